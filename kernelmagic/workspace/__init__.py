# SPDX-License-Identifier: MIT
"""The workspace layer: the core state of one notebook or one command-line run.

``core`` holds :class:`Workspace` and the current-workspace registry; ``model`` what it
works with (the lab machine protocol, the builder, a module's sources) and gives back.
"""

from kernelmagic.workspace.core import Workspace, current, set_current
from kernelmagic.workspace.model import (
    Builder,
    Console,
    LabMachine,
    LastOperation,
    ModuleChange,
    ModuleSources,
)

__all__ = [
    "Builder",
    "Console",
    "LabMachine",
    "LastOperation",
    "ModuleChange",
    "ModuleSources",
    "Workspace",
    "current",
    "set_current",
]
