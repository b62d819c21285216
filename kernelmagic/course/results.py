# SPDX-License-Identifier: MIT
"""What a check says: a pass, a failure with hints in levels, and the report of a check cell.

A hint is given in levels, from a pointer to the API name to the shape of the code, so
that a learner who is stuck can unfold one more level at a time without being handed the
answer at once. In HTML the levels are nested ``<details>``; the plain-text twin (for
papermill, nbval and terminals) shows the first level only.

A check cell runs all its checks (:func:`kernelmagic.course.check.check_all`) and shows
one :class:`CheckReport`: "N of M checks passed", every check with its result, and for
each failure what was seen and the hints. ``CheckFailed`` is an ``AssertionError``, so a
failed check still fails the cell in JupyterLab, nbval, papermill and pytest; in IPython
it is shown as one line (``_render_traceback_``), never as a traceback of our code.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "HintText",
    "Outcome",
    "hint_levels",
]

#: A hint: one sentence, or its levels from a pointer to the shape of the code.
HintText = str | Sequence[str]

_GREEN = "color:#1a7f37"
_RED = "color:var(--jp-error-color1,#d32f2f)"
_GREY = "color:var(--jp-ui-font-color2,#666)"
_BOX = (
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "line-height:1.4;border-left:3px solid {colour};padding:0.2em 0.6em"
)


def hint_levels(hint: HintText) -> tuple[str, ...]:
    """The levels of a hint, without empty ones."""
    levels = (hint,) if isinstance(hint, str) else tuple(hint)
    return tuple(level for level in levels if level)


class CheckFailed(AssertionError):
    """An exercise check did not pass; ``hint`` says what to look at first.

    ``hints`` holds every level, ``hint`` the first one. A failure raised by
    :func:`~kernelmagic.course.check.check_all` also carries the whole ``report``.
    """

    def __init__(
        self, message: str, hint: HintText = "", *, report: CheckReport | None = None,
        shown: bool = False,
    ) -> None:  # fmt: skip
        self.message = message
        self.hints = hint_levels(hint)
        self.hint = self.hints[0] if self.hints else ""
        self.report = report
        self.shown = shown
        text = report.text() if report is not None else message
        if self.hint and report is None:
            text += f"\nHint: {self.hint}"
        super().__init__(text)

    def _render_traceback_(self) -> list[str]:
        """One clear message for IPython instead of a traceback through our code."""
        name = "\x1b[0;31mCheckFailed\x1b[0m"
        if self.report is not None and self.shown:
            return [f"{name}: {self.report.summary()}; the report above says what to fix"]
        lines = str(self).splitlines() or [""]
        return [f"{name}: {lines[0]}", *lines[1:]]


@dataclass(frozen=True)
class CheckResult:
    """A passed check: what was verified, and what was seen."""

    what: str
    seen: str = ""

    def __repr__(self) -> str:
        return f"check passed: {self.what}"

    def _repr_html_(self) -> str:
        return f'<div style="{_GREEN}"><b>&#10003; check passed:</b> {html.escape(self.what)}</div>'


@dataclass(frozen=True)
class Outcome:
    """One check of a report: passed (``what``), failed (``message``, ``hints``) or not run."""

    passed: bool
    what: str = ""
    message: str = ""
    hints: tuple[str, ...] = ()
    ran: bool = True

    @classmethod
    def of_failure(cls, failure: CheckFailed) -> Outcome:
        return cls(False, message=failure.message, hints=failure.hints)


@dataclass
class CheckReport:
    """Every check of one check cell: which passed, which failed and why, which did not run."""

    title: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for o in self.outcomes if o.passed)

    @property
    def ok(self) -> bool:
        return self.passed == len(self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.passed and o.ran]

    def summary(self) -> str:
        of = f" of {self.title}" if self.title else ""
        return f"{self.passed} of {len(self.outcomes)} checks{of} passed"

    def text(self) -> str:
        mark = "✓" if self.ok else "✗"
        lines = [f"{mark} {self.summary()}"]
        for o in self.outcomes:
            if o.passed:
                lines.append(f"  ✓ {o.what}")
            elif not o.ran:
                lines.append(f"  · not run: {o.message}")
            else:
                first, *rest = o.message.splitlines() or [""]
                lines.append(f"  ✗ {first}")
                lines += [f"      {line}" for line in rest]
                if o.hints:
                    label = f"hint 1 of {len(o.hints)}" if len(o.hints) > 1 else "hint"
                    lines.append(f"    {label}: {o.hints[0]}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "var(--jp-error-color1,#d32f2f)"
        head_style = _GREEN if self.ok else _RED
        mark = "&#10003;" if self.ok else "&#10007;"
        rows = [f'<div style="{head_style};font-weight:bold">{mark} {_esc(self.summary())}</div>']
        for o in self.outcomes:
            if o.passed:
                rows.append(f'<div style="{_GREEN}">&#10003; {_esc(o.what)}</div>')
            elif not o.ran:
                rows.append(f'<div style="{_GREY}">&middot; not run: {_esc(o.message)}</div>')
            else:
                first, _, rest = o.message.partition("\n")
                body = f'<div style="{_RED}">&#10007; {_esc(first)}</div>'
                if rest:
                    body += (
                        '<pre style="margin:0.1em 0 0.1em 1.2em;white-space:pre-wrap">'
                        f"{_esc(rest)}</pre>"
                    )
                rows.append(body + _hints_html(o.hints))
        box = _BOX.format(colour=colour)
        return f'<div class="kernelmagic" style="{box}">{"".join(rows)}</div>'


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _hints_html(hints: Sequence[str]) -> str:
    """Nested ``<details>``: each level unfolds the next, so none is seen before it is asked."""
    inner = ""
    for number in range(len(hints), 0, -1):
        label = "hint" if len(hints) == 1 else f"hint {number} of {len(hints)}"
        inner = (
            f'<details style="margin-left:1.2em"><summary>{label}</summary>'
            f"<div>{_esc(hints[number - 1])}</div>{inner}</details>"
        )
    return inner
