# SPDX-License-Identifier: MIT
"""The ``kernelmagic`` command: the top layer, built on the core and the course.

It reaches the notebook layer (kernelspec, lab extension) only through imports inside
functions, so the command works where IPython is not installed.
"""

from kernelmagic.cli.app import main

__all__ = ["main"]
