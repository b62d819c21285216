# SPDX-License-Identifier: MIT
"""What ``%%kmodule`` shows: the module card, diagnostics at their cell lines, failures.

Where a message points in the learner's cells and the hints are worked out in
``kernelmagic.kbuild.sources`` and ``kernelmagic.kbuild.hints``; this module renders them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kernelmagic.errors import BuildError
from kernelmagic.guest.modinfo import ModuleInfo
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.hints import hint
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource, Location, caret, locate
from kernelmagic.kbuild.userprog import UserProgram
from kernelmagic.notebook.views._html import (
    BAD,
    MUTED,
    TH,
    Rendered,
    box,
    byte_size,
    esc,
    html_row,
    kv_table,
    plural,
    pre,
    seconds,
)
from kernelmagic.notebook.views.modules import LoadResult
from kernelmagic.notebook.views.notice import Notice

__all__ = ["BuildFailure", "DiagnosticList", "KModuleResult", "ModuleCard", "UserProgramResult"]


class DiagnosticList(Rendered):
    """Compiler and modpost messages, each at its cell line with the source and a caret."""

    def __init__(self, diagnostics: Sequence[Diagnostic], files: Mapping[str, CellSource]) -> None:
        self.diagnostics = list(diagnostics)
        self.files = dict(files)

    def _items(self) -> list[tuple[Diagnostic, Location, str]]:
        """Each diagnostic with its location and its hint (a hint is given only once)."""
        items = []
        hints: set[str] = set()
        for d in self.diagnostics:
            text = hint(d, self.files)
            items.append((d, locate(d, self.files), "" if text in hints else text))
            hints.add(text)
        return items

    def _text(self) -> str:
        out: list[str] = []
        for d, where, hint_text in self._items():
            out.append(f"{where.label}: {d.severity}: {d.message}")
            if where.text is not None and where.cell_line is not None:
                shown, mark = caret(where.text, d.column)
                gutter = f"{where.cell_line:>5} | "
                out.append(gutter + shown)
                if mark:
                    out.append(" " * (len(gutter) - 2) + "| " + mark)
            if hint_text:
                out.append(f"      hint: {hint_text}")
        return "\n".join(out)

    def _html(self) -> str:
        parts = []
        for d, where, hint_text in self._items():
            colour = BAD if d.severity == "error" else (
                "color:#b26a00" if d.severity == "warning" else MUTED
            )  # fmt: skip
            head = (
                f'<div><b>{esc(where.label)}</b>: <span style="{colour};font-weight:bold">'
                f"{esc(d.severity)}</span>: {esc(d.message)}</div>"
            )
            body = ""
            if where.text is not None and where.cell_line is not None:
                shown, mark = caret(where.text, d.column)
                gutter = f"{where.cell_line:>5} | "
                block = esc(gutter + shown)
                if mark:
                    block += "\n" + esc(" " * (len(gutter) - 2) + "| ")
                    block += f'<span style="{BAD};font-weight:bold">{esc(mark)}</span>'
                body = f'<pre style="margin:0.1em 0 0.4em 0">{block}</pre>'
            if hint_text:
                body += f'<div style="{MUTED};margin-bottom:0.4em">hint: {esc(hint_text)}</div>'
            parts.append(head + body)
        return "".join(parts)


class BuildFailure(Rendered):
    """A failed build: every diagnostic at its cell line; the end of make's log otherwise."""

    def __init__(
        self, name: str, error: BuildError, files: Mapping[str, CellSource], log_lines: int = 15
    ) -> None:
        self.name = name
        self.error = error
        self.diagnostics = DiagnosticList(error.diagnostics, files)
        self.log_tail = [] if error.diagnostics else error.log.strip().splitlines()[-log_lines:]

    def _summary(self) -> str:
        errors = sum(1 for d in self.error.diagnostics if d.severity == "error")
        warnings = sum(1 for d in self.error.diagnostics if d.severity == "warning")
        counts = [plural(errors, "error")] + ([plural(warnings, "warning")] if warnings else [])
        return f"build of {self.name} failed: {', '.join(counts)}"

    def _text(self) -> str:
        parts = [self._summary()]
        if self.error.diagnostics:
            parts.append(self.diagnostics._text())
        else:
            parts.append(str(self.error))
            parts += [f"  {line}" for line in self.log_tail]
        return "\n".join(parts)

    def _html(self) -> str:
        inner = f'<div style="{BAD};font-weight:bold">{esc(self._summary())}</div>'
        if self.error.diagnostics:
            inner += self.diagnostics._html()
        else:
            inner += f"<div>{esc(self.error)}</div>" + pre("\n".join(self.log_tail), MUTED)
        return box(inner, "var(--jp-error-color1,#d32f2f)")


class ModuleCard(Rendered):
    """A module's metadata (modinfo) and, for the learner's own builds, how it was built."""

    FIELDS = ("license", "description", "author", "version", "vermagic")

    def __init__(
        self,
        info: ModuleInfo,
        *,
        build: BuildResult | None = None,
        size: int | None = None,
        filename: str | None = None,
    ) -> None:
        self.info = info
        self.build = build
        self.size = size
        self.filename = filename or (build.ko_path.name if build else info.first("filename"))

    @property
    def name(self) -> str:
        return self.info.name

    def _rows(self) -> list[tuple[str, str]]:
        rows = [(key, getattr(self.info, key)) for key in self.FIELDS]
        rows = [(k, v) for k, v in rows if v or k == "license"]
        if self.info.depends:
            rows.append(("depends", ", ".join(self.info.depends)))
        if self.size is not None:
            rows.append(("size", f"{byte_size(self.size)} (.ko file, with debug info)"))
        if self.build is None and self.filename:
            rows.append(("filename", self.filename))
        return [(k, v.strip() or "(none)") for k, v in rows]

    def _built(self) -> str:
        if self.build is None:
            return ""
        if self.build.cached:
            return f"from cache (built {seconds(self.build.duration)})"
        return f"built {seconds(self.build.duration)}"

    def _text(self) -> str:
        title = f"module {self.name}"
        if self.build is not None:
            title += f" ({self.build.ko_path.name} for {self.build.kernel_release})"
        out = [title]
        out += [f"  {k:<12} {v}" for k, v in self._rows()]
        if self.info.params:
            width = max(len(p.name) for p in self.info.params)
            types = max(len(p.type) for p in self.info.params)
            for i, p in enumerate(self.info.params):
                label = "parameters" if i == 0 else ""
                row = f"  {label:<12} {p.name:<{width}}  {p.type:<{types}}  {p.description}"
                out.append(row.rstrip())
        else:
            out.append(f"  {'parameters':<12} (none)")
        if self.build is not None:
            out.append(f"  {self._built()}")
        return "\n".join(out)

    def _html(self) -> str:
        if self.info.params:
            cells = "".join(
                f"<tr><td style='text-align:left'><b>{esc(p.name)}</b></td>"
                f"<td style='text-align:left'>{esc(p.type)}</td>"
                f"<td style='text-align:left'>{esc(p.description)}</td></tr>"
                for p in self.info.params
            )
            # The nested table's cell keeps the default alignment (stored lesson outputs).
            params = (
                f"<tr><th {TH}>parameters</th><td><table style='margin:0'>"
                f"<tr><th {TH}>name</th><th {TH}>type</th><th {TH}>description</th></tr>"
                f"{cells}</table></td></tr>"
            )
        else:
            params = html_row("parameters", "(none)")
        title = f"<b>{esc(self.name)}</b>"
        if self.build is not None:
            title += (
                f' <span style="{MUTED}">{esc(self.build.ko_path.name)} for '
                f"{esc(self.build.kernel_release)} · {esc(self._built())}</span>"
            )
        table = kv_table(self._rows(), params)
        return box(f"<div>{title}</div>{table}", "var(--jp-brand-color1,#1976d2)")


class KModuleResult(Rendered):
    """What ``%%kmodule`` returns: the card, its warnings, and what --install/--load did."""

    def __init__(
        self,
        card: ModuleCard,
        warnings: DiagnosticList | None = None,
        installed: str | None = None,
        load: LoadResult | None = None,
    ) -> None:
        self.card = card
        self.warnings = warnings if warnings and warnings.diagnostics else None
        self.installed = installed
        self.load = load

    @property
    def build(self) -> BuildResult | None:
        return self.card.build

    @property
    def log(self) -> str:
        return self.load.log if self.load else ""

    def _parts(self) -> list[Rendered]:
        parts: list[Rendered] = [self.card]
        if self.warnings:
            parts.append(self.warnings)
        if self.installed:
            parts.append(Notice(f"installed as {self.installed} (depmod -a done)"))
        if self.load:
            parts.append(self.load)
        return parts

    def _text(self) -> str:
        return "\n".join(p._text() for p in self._parts())

    def _html(self) -> str:
        return "".join(
            box(p._html()) if isinstance(p, DiagnosticList) else p._html() for p in self._parts()
        )


class UserProgramResult(Rendered):
    """What ``%%userprog`` returns: the program built, how to run it, and gcc's warnings."""

    def __init__(self, program: UserProgram, warnings: DiagnosticList | None = None) -> None:
        self.program = program
        self.warnings = warnings if warnings and warnings.diagnostics else None

    def _summary(self) -> str:
        # Nothing here varies from run to run (cache, size), so stored outputs compare.
        p = self.program
        n = len(p.warnings)
        said = f", {plural(n, 'warning')}" if n else ""
        return f"user program {p.name} built (static{said}): run it in the guest as {p.name}"

    def _text(self) -> str:
        parts = [self._summary()]
        if self.warnings:
            parts.append(self.warnings._text())
        return "\n".join(parts)

    def _html(self) -> str:
        inner = pre(self._summary())
        if self.warnings:
            inner += self.warnings._html()
        return box(inner)
