# SPDX-License-Identifier: MIT
"""Where a compiler message points in the learner's cells.

kbuild compiles files; the learner wrote cells. Each file of a module remembers the
cell it came from (:class:`CellSource`), so a diagnostic at ``hello.c:7:9`` can be shown
at "cell line 8" with the source line and a caret under gcc's column. The views render
what :func:`locate` and :func:`caret` return; the learner hints use
:func:`licence_location`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kernelmagic.kbuild.diagnostics import Diagnostic

__all__ = ["TAB_WIDTH", "CellSource", "Location", "caret", "licence_location", "locate"]

TAB_WIDTH = 8  # gcc counts a tab as reaching the next multiple of 8 (-ftabstop=8)


@dataclass(frozen=True)
class CellSource:
    """A source file as the learner typed it: its text, and which cell it came from.

    ``label`` names the cell (``%%kmodule hello``); ``first_line`` is the cell line of the
    file's line 1: 2, since the magic's own line is line 1, as JupyterLab numbers them.
    ``main`` marks the ``%%kmodule`` cell itself, whose lines need no file name.
    """

    text: str
    label: str
    first_line: int = 2
    main: bool = False


@dataclass(frozen=True)
class Location:
    """Where a diagnostic is, in the learner's words.

    ``label`` reads "cell line 8" (or "util.c, cell line 3 of %%kfile hello/util.c");
    for a message with no line in a cell it is the tool ("gcc", "ld", "modpost") or the
    compiler's own ``file:line:col``. ``text`` is the source line, when there is one.
    """

    label: str
    text: str | None = None
    cell_line: int | None = None


def _cell_place(filename: str, source: CellSource, line: int) -> str:
    where = f"cell line {line + source.first_line - 1}"
    return where if source.main else f"{filename}, {where} of {source.label}"


def locate(diagnostic: Diagnostic, files: Mapping[str, CellSource]) -> Location:
    """The cell line (and its text) that ``diagnostic`` points at, as far as it can tell."""
    d = diagnostic
    source = files.get(d.file)
    if source is None or d.line is None:
        if d.origin == "modpost" or not d.file:
            return Location({"compiler": "gcc", "linker": "ld"}.get(d.origin, d.origin))
        return Location(d.location)
    lines = source.text.splitlines()
    text = lines[d.line - 1] if 0 < d.line <= len(lines) else None
    return Location(_cell_place(d.file, source, d.line), text, d.line + source.first_line - 1)


def caret(line: str, column: int | None) -> tuple[str, str | None]:
    """The line with tabs expanded, and a caret line under gcc's (display) column."""
    shown = line.expandtabs(TAB_WIDTH)
    if column is None or column < 1:
        return shown, None
    return shown, " " * (column - 1) + "^"


def licence_location(files: Mapping[str, CellSource]) -> str:
    """Where MODULE_LICENSE is, in the words of :func:`locate`; "" when nowhere."""
    for filename, source in files.items():
        for number, text in enumerate(source.text.splitlines(), start=1):
            if "MODULE_LICENSE(" in text:
                return _cell_place(filename, source, number)
    return ""
