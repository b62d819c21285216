# SPDX-License-Identifier: MIT
"""Module building on the host with kbuild, against the bundle's kbuild tree.

``builder`` runs make; ``tree`` writes the folder it builds in; ``toolchain`` knows the
kernel and compiler; ``cache`` keys and stores builds; ``diagnostics`` turns the log
into the lines a learner fixes, which the cell-source mapping takes back to the cells.
"""

from kernelmagic.kbuild.builder import BuildResult, build_module

__all__ = ["BuildResult", "build_module"]
