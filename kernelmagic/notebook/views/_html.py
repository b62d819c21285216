# SPDX-License-Identifier: MIT
"""What every view shares: the base class, escaping, boxes, key/value tables, numbers.

Everything that came from the learner, the compiler or the guest goes through
:func:`esc` on its way into HTML; the helpers here escape what they are given, except
where a parameter says it takes HTML.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

__all__ = [
    "BAD",
    "BOX",
    "GOOD",
    "MUTED",
    "TH",
    "Rendered",
    "box",
    "byte_size",
    "esc",
    "html_row",
    "kv_table",
    "plural",
    "pre",
    "seconds",
]

BOX = (
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "line-height:1.4"
)
MUTED = "color:var(--jp-ui-font-color2,#666)"
BAD = "color:var(--jp-error-color1,#d32f2f)"
GOOD = "color:var(--jp-success-color1,#2e7d32)"
#: The attributes of a row's heading cell in a key/value table.
TH = f'style="text-align:left;padding:0 1em 0 0;{MUTED};font-weight:normal"'


class Rendered:
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def pre(text: str, style: str = "") -> str:
    return f'<pre style="margin:0.2em 0;white-space:pre-wrap;{style}">{esc(text)}</pre>'


def box(inner: str, border: str = "var(--jp-border-color2,#ccc)") -> str:
    """The frame of every view: code font, a coloured bar on the left (``inner`` is HTML)."""
    return (
        f'<div class="kernelmagic" style="{BOX};border-left:3px solid {border};'
        f'padding:0.2em 0.6em">{inner}</div>'
    )


def html_row(key: str, value_html: str) -> str:
    """One key/value table row whose value is HTML already (a nested table, a list)."""
    return f"<tr><th {TH}>{esc(key)}</th><td style='text-align:left'>{value_html}</td></tr>"


def kv_table(
    rows: Iterable[tuple[str, str]], extra_rows: str = "", *, style: str = "margin:0.2em 0"
) -> str:
    """A table of keys and plain-text values; ``extra_rows`` are more rows, as HTML."""
    body = "".join(html_row(key, esc(value)) for key, value in rows)
    attributes = f" style='{style}'" if style else ""
    return f"<table{attributes}>{body}{extra_rows}</table>"


def seconds(value: float) -> str:
    return f"in {value:.2f} s"


def byte_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
