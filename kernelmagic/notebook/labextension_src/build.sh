#!/bin/sh
# SPDX-License-Identifier: MIT
# Rebuild the prebuilt JupyterLab extension that kernelmagic ships in
# kernelmagic/notebook/labextension/ (installed into share/jupyter/labextensions/kernelmagic-highlight
# by pip). Only maintainers run this; it needs node >= 18 and npm. Learners need neither.
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-../../../.venv/bin/python}
CORE=$("$PY" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')
npm ci --no-audit --no-fund --loglevel=error
rm -rf dist
node node_modules/@jupyterlab/builder/lib/build-labextension.js --core-path "$CORE" .
rm -rf ../labextension
mkdir -p ../labextension
cp -r dist/package.json dist/static ../labextension/
rm -rf dist node_modules
echo "built into kernelmagic/notebook/labextension"
