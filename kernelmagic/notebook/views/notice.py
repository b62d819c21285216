# SPDX-License-Identifier: MIT
"""One line of news: the VM booted, a file was registered, a module was installed."""

from __future__ import annotations

from kernelmagic.notebook.views._html import BOX, MUTED, Rendered, esc

__all__ = ["Notice"]


class Notice(Rendered):
    """One line; ``warn`` colours it as a warning."""

    def __init__(self, text: str, *, warn: bool = False) -> None:
        self.text = text
        self.warn = warn

    def _text(self) -> str:
        return self.text

    def _html(self) -> str:
        style = "color:var(--jp-warn-color1,#b26a00)" if self.warn else MUTED
        return f'<div class="kernelmagic" style="{BOX};{style}">{esc(self.text)}</div>'
