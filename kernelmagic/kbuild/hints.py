# SPDX-License-Identifier: MIT
"""Plain-words hints for the build messages learners meet first.

gcc and modpost speak to kernel developers. For the few messages every beginner meets
(a GPL-only symbol, a symbol nobody exports, a missing licence), :func:`hint` adds one
sentence that says what to change and where.
"""

from __future__ import annotations

from collections.abc import Mapping

from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.sources import CellSource, licence_location

__all__ = ["hint"]


def hint(diagnostic: Diagnostic, files: Mapping[str, CellSource]) -> str:
    """A hint for ``diagnostic`` when we have one, else ""."""
    msg = diagnostic.message
    if "GPL-only symbol" in msg or "GPL-incompatible" in msg:
        where = licence_location(files)
        return (
            "symbols exported with EXPORT_SYMBOL_GPL are only for modules whose "
            'MODULE_LICENSE is GPL-compatible ("GPL", "Dual MIT/GPL", ...); '
            + (f"this module's is on {where}" if where else "this module declares none")
        )
    if diagnostic.origin == "modpost" and "undefined!" in msg:
        return (
            "neither the kernel nor a module built in this notebook exports that symbol: "
            "check the spelling, or run the %%kmodule cell of the module that exports it first"
        )
    if "missing MODULE_LICENSE" in msg:
        return 'add MODULE_LICENSE("GPL"); every module must declare its licence'
    return ""
