# SPDX-License-Identifier: MIT
"""What a learner sees inline: small result objects with ``_repr_html_`` and a plain repr.

Each class renders twice. The HTML is for JupyterLab; everything that came from the
learner, the compiler or the guest is ``html.escape``'d on the way in. The plain text
is what papermill and nbval record, so it avoids what varies between runs where it
can; durations appear as ``in 0.84 s`` and timestamps as ``[   12.345678]`` so that a
sanitize rule can mask them. The objects keep their data as attributes, so a lesson
can assert on them: ``r = %insmod hello`` then ``assert "Hello" in r.log``.

One module per concern: ``build`` (module cards, diagnostics), ``modules`` (loads,
refusals, ``%lsmod``), ``log`` (``%dmesg``), ``vm`` (status, crashes, console),
``shell`` (``%vmsh``), ``notice`` (one-line news), ``crash`` (a kernel report or a stuck
operation at the learner's line), ``reports`` (kernel reports among log records, to
fold); ``_html`` holds what they share.
"""

from kernelmagic.notebook.views.build import (
    BuildFailure,
    DiagnosticList,
    KModuleResult,
    ModuleCard,
    UserProgramResult,
)
from kernelmagic.notebook.views.crash import CrashView, StuckView
from kernelmagic.notebook.views.log import LogView
from kernelmagic.notebook.views.modules import LoadResult, ModuleErrorView, ModuleTable
from kernelmagic.notebook.views.notice import Notice
from kernelmagic.notebook.views.shell import ShellResult
from kernelmagic.notebook.views.vm import ConsoleView, VMStatusCard

__all__ = [
    "BuildFailure",
    "ConsoleView",
    "CrashView",
    "DiagnosticList",
    "KModuleResult",
    "LoadResult",
    "LogView",
    "ModuleCard",
    "ModuleErrorView",
    "ModuleTable",
    "Notice",
    "ShellResult",
    "StuckView",
    "UserProgramResult",
    "VMStatusCard",
]
