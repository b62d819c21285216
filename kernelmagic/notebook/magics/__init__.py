# SPDX-License-Identifier: MIT
"""The IPython magics: one Magics class per concern, all sharing one lab session."""

from __future__ import annotations

from typing import Any

from kernelmagic.errors import ArgumentError
from kernelmagic.notebook.magics._common import LabMagics
from kernelmagic.notebook.magics.building import BuildMagics
from kernelmagic.notebook.magics.kernel_log import KernelLogMagics
from kernelmagic.notebook.magics.lab_vm import VMMagics
from kernelmagic.notebook.magics.modules import ModuleMagics
from kernelmagic.notebook.magics.shell import ShellMagics
from kernelmagic.notebook.session import LabSession, get_session

__all__ = ["MAGICS", "ArgumentError", "register", "unregister"]

MAGICS: tuple[type[LabMagics], ...] = (
    BuildMagics,
    ModuleMagics,
    KernelLogMagics,
    ShellMagics,
    VMMagics,
)


def register(ipython: Any, session: LabSession | None = None) -> LabSession:
    """Register every magic on ``ipython``, sharing ``session`` (the process's by default)."""
    session = session or get_session()
    for cls in MAGICS:
        ipython.register_magics(cls(ipython, session))
    return session


def unregister(ipython: Any) -> None:
    """Remove our magics from ``ipython`` (IPython has no public call for this)."""
    manager = ipython.magics_manager
    for cls in MAGICS:
        for kind, names in cls.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(cls.__name__, None)
