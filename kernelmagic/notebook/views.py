# SPDX-License-Identifier: MIT
"""What a learner sees inline: small result objects with ``_repr_html_`` and a plain repr.

Each class renders twice. The HTML is for JupyterLab; everything that came from the
learner, the compiler or the guest is ``html.escape``'d on the way in. The plain text
is what papermill and nbval record, so it avoids what varies between runs where it
can; durations appear as ``in 0.84 s`` and timestamps as ``[   12.345678]`` so that a
sanitize rule can mask them. The objects keep their data as attributes, so a lesson
can assert on them: ``r = %insmod hello`` then ``assert "Hello" in r.log``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.errors import BuildError, ModuleError
from kernelmagic.guest.facts import GuestFacts
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.kmod import LoadedModule, ModuleOperation
from kernelmagic.guest.modinfo import ModuleInfo
from kernelmagic.kbuild.builder import BuildResult
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.machine.agent import ExecResult
from kernelmagic.machine.console import CrashReport
from kernelmagic.machine.vm import VMStatus

__all__ = [
    "BuildFailure",
    "CellSource",
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
    "VMStatusCard",
]

TAB_WIDTH = 8  # gcc counts a tab as reaching the next multiple of 8 (-ftabstop=8)
LEVEL_STYLES = {
    "emerg": "color:#fff;background:#b71c1c;font-weight:bold",
    "alert": "color:#fff;background:#c62828;font-weight:bold",
    "crit": "color:#c62828;font-weight:bold",
    "err": "color:#d32f2f",
    "warning": "color:#b26a00",
    "notice": "color:#1565c0",
    "info": "",
    "debug": "color:#808080",
}
_BOX = (
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "line-height:1.4"
)
_MUTED = "color:var(--jp-ui-font-color2,#666)"
_BAD = "color:var(--jp-error-color1,#d32f2f)"
_GOOD = "color:var(--jp-success-color1,#2e7d32)"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pre(text: str, style: str = "") -> str:
    return f'<pre style="margin:0.2em 0;white-space:pre-wrap;{style}">{_e(text)}</pre>'


def _box(inner: str, border: str = "var(--jp-border-color2,#ccc)") -> str:
    return (
        f'<div class="kernelmagic" style="{_BOX};border-left:3px solid {border};'
        f'padding:0.2em 0.6em">{inner}</div>'
    )


def _seconds(value: float) -> str:
    return f"in {value:.2f} s"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Rendered:
    """Base: subclasses implement ``_text`` and ``_html``; repr and str give the text."""

    def _text(self) -> str:
        raise NotImplementedError

    def _html(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self._html()

    def __repr__(self) -> str:
        return self._text()

    def __str__(self) -> str:
        return self._text()


class Notice(_Rendered):
    """One line: the VM booted, a file was registered, a module was installed."""

    def __init__(self, text: str, *, warn: bool = False) -> None:
        self.text = text
        self.warn = warn

    def _text(self) -> str:
        return self.text

    def _html(self) -> str:
        style = "color:var(--jp-warn-color1,#b26a00)" if self.warn else _MUTED
        return f'<div class="kernelmagic" style="{_BOX};{style}">{_e(self.text)}</div>'


# -- build: module cards and diagnostics ------------------------------------------------


@dataclass(frozen=True)
class CellSource:
    """A source file as the learner typed it: its text, and which cell it came from.

    ``label`` names the cell (``%%kmodule hello``); ``first_line`` is the cell line of the
    file's line 1: 2, since the magic's own line is line 1, as JupyterLab numbers them.
    """

    text: str
    label: str
    first_line: int = 2
    main: bool = False


def _where(d: Diagnostic, files: Mapping[str, CellSource]) -> tuple[str, str | None, int | None]:
    """(location label, source line or None, cell line or None) for one diagnostic."""
    source = files.get(d.file)
    if source is None or d.line is None:
        if d.origin == "modpost" or not d.file:
            return {"compiler": "gcc", "linker": "ld"}.get(d.origin, d.origin), None, None
        return d.location, None, None
    cell_line = d.line + source.first_line - 1
    lines = source.text.splitlines()
    text = lines[d.line - 1] if 0 < d.line <= len(lines) else None
    where = f"cell line {cell_line}"
    if not source.main:
        where = f"{d.file}, {where} of {source.label}"
    return where, text, cell_line


def _caret(line: str, column: int | None) -> tuple[str, str | None]:
    """The line with tabs expanded, and a caret line under gcc's (display) column."""
    shown = line.expandtabs(TAB_WIDTH)
    if column is None or column < 1:
        return shown, None
    return shown, " " * (column - 1) + "^"


def _licence_line(files: Mapping[str, CellSource]) -> str:
    """Where MODULE_LICENSE is, in the words of _where (for the GPL-only hint)."""
    for filename, source in files.items():
        for number, text in enumerate(source.text.splitlines(), start=1):
            if "MODULE_LICENSE(" in text:
                where = f"cell line {number + source.first_line - 1}"
                return where if source.main else f"{filename}, {where} of {source.label}"
    return ""


def _hint(d: Diagnostic, files: Mapping[str, CellSource]) -> str:
    """A plain-words hint for the messages learners meet first, when we have one."""
    msg = d.message
    if "GPL-only symbol" in msg or "GPL-incompatible" in msg:
        where = _licence_line(files)
        return (
            "symbols exported with EXPORT_SYMBOL_GPL are only for modules whose "
            'MODULE_LICENSE is GPL-compatible ("GPL", "Dual MIT/GPL", ...); '
            + (f"this module's is on {where}" if where else "this module declares none")
        )
    if d.origin == "modpost" and "undefined!" in msg:
        return (
            "neither the kernel nor a module built in this notebook exports that symbol: "
            "check the spelling, or run the %%kmodule cell of the module that exports it first"
        )
    if "missing MODULE_LICENSE" in msg:
        return 'add MODULE_LICENSE("GPL"); every module must declare its licence'
    return ""


class DiagnosticList(_Rendered):
    """Compiler and modpost messages, each at its cell line with the source and a caret."""

    def __init__(self, diagnostics: Sequence[Diagnostic], files: Mapping[str, CellSource]) -> None:
        self.diagnostics = list(diagnostics)
        self.files = dict(files)

    def _items(self) -> list[tuple[Diagnostic, str, str | None, int | None, str]]:
        items = []
        hints: set[str] = set()
        for d in self.diagnostics:
            where, text, cell_line = _where(d, self.files)
            hint = _hint(d, self.files)
            items.append((d, where, text, cell_line, "" if hint in hints else hint))
            hints.add(hint)
        return items

    def _text(self) -> str:
        out: list[str] = []
        for d, where, text, cell_line, hint in self._items():
            out.append(f"{where}: {d.severity}: {d.message}")
            if text is not None and cell_line is not None:
                shown, caret = _caret(text, d.column)
                gutter = f"{cell_line:>5} | "
                out.append(gutter + shown)
                if caret:
                    out.append(" " * (len(gutter) - 2) + "| " + caret)
            if hint:
                out.append(f"      hint: {hint}")
        return "\n".join(out)

    def _html(self) -> str:
        parts = []
        for d, where, text, cell_line, hint in self._items():
            colour = _BAD if d.severity == "error" else (
                "color:#b26a00" if d.severity == "warning" else _MUTED
            )  # fmt: skip
            head = (
                f'<div><b>{_e(where)}</b>: <span style="{colour};font-weight:bold">'
                f"{_e(d.severity)}</span>: {_e(d.message)}</div>"
            )
            body = ""
            if text is not None and cell_line is not None:
                shown, caret = _caret(text, d.column)
                gutter = f"{cell_line:>5} | "
                block = _e(gutter + shown)
                if caret:
                    block += "\n" + _e(" " * (len(gutter) - 2) + "| ")
                    block += f'<span style="{_BAD};font-weight:bold">{_e(caret)}</span>'
                body = f'<pre style="margin:0.1em 0 0.4em 0">{block}</pre>'
            if hint:
                body += f'<div style="{_MUTED};margin-bottom:0.4em">hint: {_e(hint)}</div>'
            parts.append(head + body)
        return "".join(parts)


class BuildFailure(_Rendered):
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
        counts = [_plural(errors, "error")] + ([_plural(warnings, "warning")] if warnings else [])
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
        inner = f'<div style="{_BAD};font-weight:bold">{_e(self._summary())}</div>'
        if self.error.diagnostics:
            inner += self.diagnostics._html()
        else:
            inner += f"<div>{_e(self.error)}</div>" + _pre("\n".join(self.log_tail), _MUTED)
        return _box(inner, "var(--jp-error-color1,#d32f2f)")


class ModuleCard(_Rendered):
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
            rows.append(("size", f"{_size(self.size)} (.ko file, with debug info)"))
        if self.build is None and self.filename:
            rows.append(("filename", self.filename))
        return [(k, v.strip() or "(none)") for k, v in rows]

    def _built(self) -> str:
        if self.build is None:
            return ""
        if self.build.cached:
            return f"from cache (built {_seconds(self.build.duration)})"
        return f"built {_seconds(self.build.duration)}"

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
        th = f'style="text-align:left;padding:0 1em 0 0;{_MUTED};font-weight:normal"'
        rows = "".join(
            f"<tr><th {th}>{_e(k)}</th><td style='text-align:left'>{_e(v)}</td></tr>"
            for k, v in self._rows()
        )
        params = ""
        if self.info.params:
            cells = "".join(
                f"<tr><td style='text-align:left'><b>{_e(p.name)}</b></td>"
                f"<td style='text-align:left'>{_e(p.type)}</td>"
                f"<td style='text-align:left'>{_e(p.description)}</td></tr>"
                for p in self.info.params
            )
            params = (
                f"<tr><th {th}>parameters</th><td><table style='margin:0'>"
                f"<tr><th {th}>name</th><th {th}>type</th><th {th}>description</th></tr>"
                f"{cells}</table></td></tr>"
            )
        else:
            params = f"<tr><th {th}>parameters</th><td style='text-align:left'>(none)</td></tr>"
        title = f"<b>{_e(self.name)}</b>"
        if self.build is not None:
            title += (
                f' <span style="{_MUTED}">{_e(self.build.ko_path.name)} for '
                f"{_e(self.build.kernel_release)} · {_e(self._built())}</span>"
            )
        table = f"<table style='margin:0.2em 0'>{rows}{params}</table>"
        return _box(f"<div>{title}</div>{table}", "var(--jp-brand-color1,#1976d2)")


class KModuleResult(_Rendered):
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

    def _parts(self) -> list[_Rendered]:
        parts: list[_Rendered] = [self.card]
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
            _box(p._html()) if isinstance(p, DiagnosticList) else p._html() for p in self._parts()
        )


# -- loading and the kernel log ----------------------------------------------------------


def _log_lines_html(records: Sequence[LogRecord], timestamps: bool) -> str:
    rows = []
    for r in records:
        style = LEVEL_STYLES.get(r.level_name, "")
        stamp = f'<span style="{_MUTED}">[{r.timestamp:12.6f}]</span> ' if timestamps else ""
        level = f'<span style="{style}">{_e(f"{r.level_name:<7}")}</span> ' if timestamps else ""
        rows.append(f'{stamp}{level}<span style="{style}">{_e(r.message)}</span>')
    return '<pre style="margin:0.2em 0;white-space:pre-wrap">' + "\n".join(rows) + "</pre>"


class LoadResult(_Rendered):
    """The outcome of insmod, rmmod or modprobe, and the kernel log lines it produced."""

    def __init__(
        self,
        operation: ModuleOperation,
        *,
        loaded: Sequence[str] = (),
        removed: Sequence[str] = (),
        outcome: str | None = None,
    ) -> None:
        self.operation = operation
        self.module = operation.module
        self.action = operation.action
        self.records = list(operation.log)
        self.duration = operation.duration
        self.loaded = list(loaded)
        self.removed = list(removed)
        self.outcome = outcome or self._default_outcome()

    @property
    def log(self) -> str:
        """The kernel log messages, one per line (what ``assert "Hello" in r.log`` reads)."""
        return "\n".join(r.message for r in self.records)

    def _default_outcome(self) -> str:
        if self.action == "rmmod":
            return f"{self.module} unloaded"
        if self.action == "modprobe -r":
            gone = ", ".join(self.removed) or "nothing"
            return f"modprobe -r {self.module}: unloaded {gone}"
        if self.action == "modprobe":
            new = ", ".join(self.loaded) or "nothing new (already loaded)"
            return f"modprobe {self.module}: loaded {new}"
        return f"{self.module} loaded"

    def _text(self) -> str:
        lines = [self.outcome]
        for r in self.records:
            lines += ["  " + part for part in r.message.splitlines() or [""]]
        return "\n".join(lines)

    def _html(self) -> str:
        inner = f'<div style="{_GOOD}">{_e(self.outcome)}</div>'
        if self.records:
            inner += _log_lines_html(self.records, timestamps=False)
        return _box(inner, "var(--jp-success-color1,#2e7d32)")


class ModuleErrorView(_Rendered):
    """A refused insmod/rmmod/modprobe: the tool's message, the errno, a hint, the log."""

    def __init__(self, error: ModuleError, *, show_log: bool = True) -> None:
        self.error = error
        self.show_log = show_log

    def _text(self) -> str:
        e = self.error
        lines = [str(e)]
        if e.errno_name:
            lines.append(f"  errno  {e.errno_name}")
        if e.hint:
            lines.append(f"  hint   {e.hint}")
        if e.log and self.show_log:
            lines.append("  kernel log:")
            lines += [f"    {line}" for msg in e.log for line in msg.splitlines()]
        return "\n".join(lines)

    def _html(self) -> str:
        e = self.error
        inner = f'<div style="{_BAD};font-weight:bold">{_e(e)}</div>'
        rows = []
        if e.errno_name:
            rows.append(("errno", e.errno_name))
        if e.hint:
            rows.append(("hint", e.hint))
        th = f'style="text-align:left;padding:0 1em 0 0;{_MUTED};font-weight:normal"'
        inner += "<table style='margin:0.2em 0'>" + "".join(
            f"<tr><th {th}>{_e(k)}</th><td style='text-align:left'>{_e(v)}</td></tr>"
            for k, v in rows
        ) + "</table>"  # fmt: skip
        if e.log and self.show_log:
            inner += f'<div style="{_MUTED}">kernel log:</div>' + _pre("\n".join(e.log))
        return _box(inner, "var(--jp-error-color1,#d32f2f)")


class ModuleTable(_Rendered):
    """``%lsmod``: the loaded modules as lsmod prints them, with their state when not Live."""

    def __init__(self, modules: Sequence[LoadedModule], pattern: str = "") -> None:
        self.modules = list(modules)
        self.pattern = pattern

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modules]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.modules)

    def _text(self) -> str:
        if not self.modules:
            return f"no loaded module matches {self.pattern!r}" if self.pattern else "no modules"
        width = max(19, *(len(m.name) for m in self.modules))
        lines = [f"{'Module':<{width}} {'Size':>7}  Used by"]
        for m in self.modules:
            used = f"{m.use_count} {','.join(m.used_by)}".rstrip()
            state = "" if m.state == "Live" else f"  [{m.state}]"
            lines.append(f"{m.name:<{width}} {m.size:>7}  {used}{state}")
        return "\n".join(lines)

    def _html(self) -> str:
        if not self.modules:
            return _box(_e(self._text()))
        th = f'style="text-align:left;padding-right:1.5em;{_MUTED}"'
        head = (
            f"<tr><th {th}>module</th><th {th}>size</th><th {th}>use count</th>"
            f"<th {th}>used by</th><th {th}>state</th></tr>"
        )
        rows = "".join(
            f"<tr><td style='text-align:left'><b>{_e(m.name)}</b></td>"
            f"<td style='text-align:right'>{m.size}</td>"
            f"<td style='text-align:right'>{m.use_count}</td>"
            f"<td style='text-align:left'>{_e(', '.join(m.used_by))}</td>"
            f"<td style='text-align:left'>{_e(m.state)}</td></tr>"
            for m in self.modules
        )
        return _box(f"<table>{head}{rows}</table>")


class LogView(_Rendered):
    """``%dmesg``: records with timestamp and level; the oldest left out past ``limit``."""

    def __init__(
        self, records: Sequence[LogRecord], *, limit: int | None = 200, title: str = ""
    ) -> None:
        self.all_records = list(records)
        self.omitted = max(0, len(self.all_records) - limit) if limit else 0
        self.records = self.all_records[self.omitted :]
        self.title = title

    @property
    def log(self) -> str:
        return "\n".join(r.message for r in self.all_records)

    @property
    def messages(self) -> list[str]:
        return [r.message for r in self.all_records]

    def _omitted_line(self) -> str:
        return (
            f"... {_plural(self.omitted, 'earlier record')} left out (%dmesg -n N shows the last N)"
        )

    def _text(self) -> str:
        lines = [self.title] if self.title else []
        if self.omitted:
            lines.append(self._omitted_line())
        for r in self.records:
            first, *rest = r.message.splitlines() or [""]
            lines.append(f"[{r.timestamp:12.6f}] {r.level_name:<7} {first}")
            lines += [" " * 23 + line for line in rest]
        if not self.all_records:
            lines.append("(no kernel log records)")
        return "\n".join(lines)

    def _html(self) -> str:
        inner = f"<div><b>{_e(self.title)}</b></div>" if self.title else ""
        if self.omitted:
            inner += f'<div style="{_MUTED}">{_e(self._omitted_line())}</div>'
        if self.records:
            inner += _log_lines_html(self.records, timestamps=True)
        elif not self.all_records:
            inner += f'<div style="{_MUTED}">(no kernel log records)</div>'
        return _box(inner)


# -- the guest: shell, status, crashes, console ------------------------------------------


class ShellResult(_Rendered):
    """``%vmsh``: what a command printed in the guest, and its exit status when not 0."""

    def __init__(self, command: str, result: ExecResult) -> None:
        self.command = command
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.signal = result.signal

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def _status(self) -> str:
        if self.signal is not None:
            return f"[killed by signal {self.signal}]"
        return f"[exit status {self.exit_code}]"

    def _text(self) -> str:
        text = self.output.rstrip("\n")
        if not self.ok:
            text = f"{text}\n{self._status()}" if text else self._status()
        return text

    def _html(self) -> str:
        inner = ""
        if self.stdout:
            inner += _pre(self.stdout.rstrip("\n"))
        if self.stderr:
            inner += _pre(self.stderr.rstrip("\n"), _BAD)
        if not self.ok:
            inner += f'<div style="{_BAD}">{_e(self._status())}</div>'
        if not inner:
            inner = f'<div style="{_MUTED}">(no output)</div>'
        border = "var(--jp-border-color2,#ccc)" if self.ok else "var(--jp-error-color1,#d32f2f)"
        return _box(inner, border)


def _duration_words(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class VMStatusCard(_Rendered):
    """``%vm status``: accelerator and why, kernel, uptime, memory, modules, taint in words."""

    def __init__(self, status: VMStatus, facts: GuestFacts | None = None) -> None:
        self.status = status
        self.facts = facts

    @property
    def taint(self) -> int:
        return self.facts.taint if self.facts else 0

    def _rows(self) -> list[tuple[str, str]]:
        s, f = self.status, self.facts
        rows = [("state", "running" if s.running else "stopped")]
        if s.accel:
            rows.append(("accelerator", f"{s.accel}: {s.accel_reason}"))
        rows.append(("kernel", f.kernel_release if f else s.kernel_release))
        if s.boot_seconds is not None:
            rows.append(("boot", _seconds(s.boot_seconds)))
        if f is not None:
            rows.append(("uptime", _duration_words(f.uptime_seconds)))
            rows.append((
                "memory",
                f"{f.mem_available_kb / 1024:.1f} MiB available of {f.mem_total_kb / 1024:.1f} MiB",
            ))  # fmt: skip
            names = ", ".join(m.name for m in f.modules) or "none"
            rows.append(("modules", f"{len(f.modules)} loaded: {names}"))
        if not s.running:
            rows.append(("start", "%vm start, or any command that needs the VM"))
        return rows

    def _taint_lines(self) -> list[str]:
        if self.facts is None:
            return []
        flags = self.facts.taint_flags
        if not flags:
            return ["not tainted (0)"]
        letters = "".join(flag.letter for flag in flags)
        return [f"{self.facts.taint} ({letters})"] + [f"{t.letter}  {t.meaning}" for t in flags]

    def _text(self) -> str:
        out = ["lab VM"] + [f"  {k:<12} {v}" for k, v in self._rows()]
        for i, line in enumerate(self._taint_lines()):
            out.append(f"  {'taint' if i == 0 else '':<12} {line}")
        return "\n".join(out)

    def _html(self) -> str:
        th = f'style="text-align:left;padding:0 1em 0 0;{_MUTED};font-weight:normal"'
        rows = "".join(
            f"<tr><th {th}>{_e(k)}</th><td style='text-align:left'>{_e(v)}</td></tr>"
            for k, v in self._rows()
        )
        taint = self._taint_lines()
        if taint:
            detail = "".join(f"<li>{_e(line)}</li>" for line in taint[1:])
            detail = f"<ul style='margin:0;padding-left:1.2em'>{detail}</ul>" if detail else ""
            rows += (
                f"<tr><th {th}>taint</th><td style='text-align:left'>{_e(taint[0])}"
                f"{detail}</td></tr>"
            )
        return _box(f"<div><b>lab VM</b></div><table>{rows}</table>")


class CrashView(_Rendered):
    """A kernel crash report: what, where (module, function, offset), then the report.

    The gdb command names the ``.ko`` by its file name, to run in the module's build
    folder (``ko_path``): a host path would end up stored in the learner's notebook.
    """

    def __init__(self, report: CrashReport, *, next_step: str, ko_path: Path | None = None) -> None:
        self.report = report
        self.next_step = next_step
        self.ko_path = ko_path

    @property
    def gdb(self) -> str:
        """A gdb command decoding the crash address, or "" without a build or an offset."""
        r = self.report
        if self.ko_path is None or not (r.module and r.function and r.offset is not None):
            return ""
        return f"gdb -batch -ex 'list *({r.function}+{r.offset:#x})' {self.ko_path.name}"

    def _where(self) -> str:
        r = self.report
        if r.function is None:
            return r.location or ""
        where = r.function + (f"+{r.offset:#x}" if r.offset is not None else "")
        if r.module:
            where += f" in module {r.module}"
        if r.location:
            where += f" ({r.location})"
        return where

    def _text(self) -> str:
        r = self.report
        lines = [f"kernel {r.kind}: {r.title}"]
        if self._where():
            lines.append(f"  where  {self._where()}")
        if self.gdb:
            lines.append(f"  decode {self.gdb}")
        lines.append(f"  {self.next_step}")
        lines.append("  report:")
        lines += [f"    {line}" for line in r.report.splitlines()]
        return "\n".join(lines)

    def _html(self) -> str:
        r = self.report
        inner = f'<div style="{_BAD};font-weight:bold">kernel {_e(r.kind)}: {_e(r.title)}</div>'
        if self._where():
            inner += f"<div>where: <b>{_e(self._where())}</b></div>"
        if self.gdb:
            inner += f'<div style="{_MUTED}">decode: <code>{_e(self.gdb)}</code></div>'
        inner += f"<div>{_e(self.next_step)}</div>"
        inner += (
            f"<details><summary>report ({len(r.report.splitlines())} lines)</summary>"
            f"{_pre(r.report)}</details>"
        )
        return _box(inner, "var(--jp-error-color1,#d32f2f)")


class ConsoleView(_Rendered):
    """``%vm log``: the last lines of the serial console (the flight recorder)."""

    def __init__(self, lines: Sequence[str], note: str = "") -> None:
        self.lines = list(lines)
        self.note = note

    def _text(self) -> str:
        head = [self.note] if self.note else []
        return "\n".join(head + (self.lines or ["(the console is empty)"]))

    def _html(self) -> str:
        inner = f'<div style="{_MUTED}">{_e(self.note)}</div>' if self.note else ""
        return _box(inner + _pre("\n".join(self.lines) or "(the console is empty)"))
