# SPDX-License-Identifier: MIT
"""Live feedback in JupyterLab that leaves no trace in a notebook's saved outputs.

A progress bar for the VM boot and the growing log of ``%dmesg --follow`` are shown
through an output with a display id and, when done, replaced by content that is empty
(or a widget view with no model, which JupyterLab hides). That matters for tests:
nbval records the first version of a display and ignores updates, while nbclient,
papermill and JupyterLab keep the last one; both end up with an output whose compared
content is empty, and the real result follows as an output of its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["WIDGET_MIME", "BootProgress", "LiveDisplay", "has_frontend"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def has_frontend() -> bool:
    """True inside a Jupyter kernel (ipykernel), where displays can be updated in place."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _publish(data: dict[str, Any], display_id: str, *, update: bool) -> None:
    from IPython.display import display, update_display

    if update:
        update_display(data, raw=True, display_id=display_id)
    else:
        display(data, raw=True, display_id=display_id)


class BootProgress:
    """A bar and a label while the lab VM boots; nothing at all outside a Jupyter kernel.

    The boot has no real progress to report, so the bar fills towards ``expected``
    seconds (the previous boot, or a guess) and the label says what is being waited
    for; ``stage`` is read from a callable so the VM's console can tell it.
    """

    def __init__(
        self,
        title: str,
        expected: float,
        stage: Callable[[], str] | None = None,
        *,
        enabled: bool | None = None,
    ) -> None:
        self.title = title
        self.expected = max(expected, 0.5)
        self.stage = stage
        self.enabled = has_frontend() if enabled is None else enabled
        self._widgets: Any = None
        self._display_id = f"kernelmagic-boot-{uuid.uuid4().hex}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BootProgress:
        if not self.enabled:
            return self
        try:
            import ipywidgets as widgets
        except ImportError:
            return self
        bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info")
        label = widgets.Label(self.title)
        box = widgets.HBox([bar, label])
        self._widgets = (box, bar, label)
        view = {"version_major": 2, "version_minor": 0, "model_id": box.model_id}
        _publish({WIDGET_MIME: view}, self._display_id, update=False)
        self._thread = threading.Thread(target=self._tick, name="kernelmagic-boot", daemon=True)
        self._thread.start()
        return self

    def _tick(self) -> None:
        start = time.monotonic()
        while not self._stop.wait(0.1):
            _, bar, label = self._widgets
            elapsed = time.monotonic() - start
            # A bar that cannot update (a closed comm, a console read racing the VM's
            # start) must neither end this thread nor disturb the boot it decorates.
            with contextlib.suppress(Exception):
                bar.value = min(0.95, elapsed / self.expected)
                stage = self.stage() if self.stage else ""
                label.value = f"{self.title}: {stage} {elapsed:.1f} s".replace("  ", " ")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        if self._widgets is None:
            return
        box, bar, label = self._widgets
        # Hiding the bar is cosmetic: an error here must not replace the boot's outcome.
        with contextlib.suppress(Exception):
            hidden = {"version_major": 2, "version_minor": 0, "model_id": ""}
            _publish({WIDGET_MIME: hidden}, self._display_id, update=True)
            for widget in (bar, label, box):
                widget.close()


class LiveDisplay:
    """An output updated in place while something runs, emptied when it is done.

    ``lazy`` shows nothing until the first update: a guest command that ends within a
    second (nearly all) then adds no output at all to the cell, and a slow one gets an
    output that starts empty, as nbval needs (see the module docstring).
    """

    def __init__(self, *, enabled: bool | None = None, lazy: bool = False) -> None:
        self.enabled = has_frontend() if enabled is None else enabled
        self.lazy = lazy
        self._display_id = f"kernelmagic-live-{uuid.uuid4().hex}"
        self._shown = False

    def update(self, obj: Any) -> None:
        if not self.enabled:
            return
        from IPython.core.formatters import format_display_data

        if not self._shown:
            _publish({"text/plain": ""}, self._display_id, update=False)
            self._shown = True
        data, _ = format_display_data(obj)
        _publish(data, self._display_id, update=True)

    def close(self) -> None:
        if self.enabled and self._shown:
            _publish({"text/plain": ""}, self._display_id, update=True)

    def __enter__(self) -> LiveDisplay:
        if self.enabled and not self.lazy:
            _publish({"text/plain": ""}, self._display_id, update=False)
            self._shown = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
