# SPDX-License-Identifier: MIT
"""Where a compiler message or a crash points in the learner's cells.

kbuild compiles files; the learner wrote cells. Each file of a module remembers the
cell it came from (:class:`CellSource`), so a diagnostic at ``hello.c:7:9`` can be shown
at "cell line 8" with the source line and a caret under gcc's column, and a crash
decoded to ``hello.c:7`` at "line 8" of the ``%%kmodule`` cell (:func:`source_line`).
The views render what :func:`locate`, :func:`caret` and :func:`source_line` return; the
learner hints use :func:`licence_location`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kernelmagic.kbuild.diagnostics import Diagnostic

__all__ = [
    "TAB_WIDTH",
    "CellSource",
    "Location",
    "SourceLine",
    "caret",
    "licence_location",
    "locate",
    "one_line",
    "source_line",
]

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

    @property
    def is_cell(self) -> bool:
        """A notebook cell (``%%kmodule``, ``%%kfile``); else a file (``kernelmagic run``)."""
        return self.label.startswith("%%")


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


def one_line(diagnostic: Diagnostic, files: Mapping[str, CellSource]) -> str:
    """``diagnostic`` in one line, placed where the learner looks for it.

    In a cell that is the cell line its output shows ("cell line 19: error: ..."), not
    the file line gcc counts, so an error's message (which papermill and nbgrader log)
    and the cell agree; a file on disk keeps gcc's own ``file:line:col``.
    """
    source = files.get(diagnostic.file)
    if source is None or not source.is_cell or diagnostic.line is None:
        return str(diagnostic)
    return f"{locate(diagnostic, files).label}: {diagnostic.severity}: {diagnostic.message}"


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


@dataclass(frozen=True)
class SourceLine:
    """A line of the learner's C that a crash points at, in the learner's numbering.

    ``where`` reads "line 15" for the ``%%kmodule`` cell (whose magic line is line 1, as
    JupyterLab numbers them) and ``FILE:N`` for a ``%%kfile`` cell or a file on disk;
    ``source`` names the cell or file. ``context`` holds the numbered lines around it
    (``number`` among them), numbered as ``where`` counts; ``cell_line`` is the line in
    JupyterLab's numbering for a cell, None for a file.
    """

    where: str
    source: str
    number: int
    text: str
    context: tuple[tuple[int, str], ...] = ()
    cell_line: int | None = None

    @property
    def full(self) -> str:
        """``where`` with its cell named: "line 15 of %%kmodule oops"."""
        if self.where.startswith("line "):
            return f"{self.where} of {self.source}"
        if self.cell_line is not None:
            return f"{self.where} (cell line {self.cell_line} of {self.source})"
        return self.where


def source_line(
    files: Mapping[str, CellSource], filename: str, line: int, *, context: int = 2
) -> SourceLine | None:
    """Line ``line`` of module file ``filename`` as the learner wrote it, with context.

    None when the file is not one of the learner's (a kernel header) or the line lies
    past its end (the sources changed since that build).
    """
    source = files.get(filename)
    if source is None:
        return None
    lines = source.text.splitlines()
    if not 0 < line <= len(lines):
        return None
    cell_line = line + source.first_line - 1 if source.is_cell else None
    if source.main and cell_line is not None:
        shift, where = cell_line - line, f"line {cell_line}"
    else:
        shift, where = 0, f"{filename if source.is_cell else source.label}:{line}"
    first, last = max(1, line - context), min(len(lines), line + context)
    around = tuple((n + shift, lines[n - 1]) for n in range(first, last + 1))
    return SourceLine(where, source.label, line + shift, lines[line - 1], around, cell_line)
