# SPDX-License-Identifier: MIT
"""The prebuilt JupyterLab extension that shows ``%%kmodule``, ``%%kfile`` and ``%%userprog`` cells
as C.

It ships built (``kernelmagic/notebook/labextension/``; source and build script in
``kernelmagic/notebook/labextension_src/``), so nobody needs Node.js. A wheel install puts it into
``share/jupyter/labextensions/kernelmagic-highlight`` through pyproject's data-files;
an editable install (``pip install -e .``, as ``make setup`` does) skips data-files,
so ``python -m kernelmagic.notebook.labext`` links it there instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

__all__ = ["BUILT", "NAME", "install", "main", "target"]

NAME = "kernelmagic-highlight"
BUILT = Path(__file__).resolve().parent / "labextension"


def target(prefix: str | os.PathLike[str] = sys.prefix) -> Path:
    return Path(prefix) / "share" / "jupyter" / "labextensions" / NAME


def install(prefix: str | os.PathLike[str] = sys.prefix, *, copy: bool = False) -> Path:
    """Link (or copy) the built extension into ``prefix``; idempotent."""
    if not (BUILT / "package.json").is_file():
        raise FileNotFoundError(
            f"no built extension in {BUILT}; run kernelmagic/notebook/labextension_src/build.sh"
        )
    dest = target(prefix)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    if copy:
        shutil.copytree(BUILT, dest)
    else:
        dest.symlink_to(BUILT, target_is_directory=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kernelmagic.notebook.labext",
        description="Install the JupyterLab extension that highlights %%kmodule, %%kfile and "
        "%%userprog cells as C.",
    )
    parser.add_argument("--prefix", default=sys.prefix, help="environment (default: %(default)s)")
    parser.add_argument("--copy", action="store_true", help="copy instead of linking")
    args = parser.parse_args(argv)
    print(f"installed {NAME} in {install(args.prefix, copy=args.copy)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
