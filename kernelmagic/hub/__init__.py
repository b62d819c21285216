# SPDX-License-Identifier: MIT
"""The course server: JupyterHub with one lab VM per learner (``kernelmagic hub ...``).

Only the modules the hub itself loads (``spawner``, ``slurm``) import JupyterHub; the
install, the learner launcher and the status report need nothing beyond the standard library
and the rest of kernelmagic, so they run before JupyterHub is installed.
"""
