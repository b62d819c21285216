# SPDX-License-Identifier: MIT
"""``kernelmagic batch run``: the runner, with its progress on the terminal.

A line per notebook as it starts and ends, with the running count (done, running,
failed), a "still running" line every half minute, and at the end the summary and where
the report is. The exit status says whether every notebook passed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kernelmagic.batch.results import duration
from kernelmagic.batch.runner import Event, run_batch
from kernelmagic.errors import UsageError

__all__ = ["EXIT_NOT_ALL_PASSED", "parse_parameters", "run_command"]

#: The exit status when the batch ran but a notebook did not pass.
EXIT_NOT_ALL_PASSED = 6


def _value(text: str) -> Any:
    """A ``-p`` value typed as papermill's own command line types it."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_parameters(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """``-p KEY VALUE`` pairs as a dict; a key that is not a Python name is refused."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        if not key.isidentifier():
            raise UsageError(f"-p {key} {value}: {key!r} is not a parameter name")
        params[key] = _value(value)
    return params


def run_command(
    sources: Sequence[Path],
    out: Path,
    *,
    parameters: Sequence[Sequence[str]] = (),
    workers: int = 1,
    timeout: float = 900.0,
    kernel_version: str | None = None,
    stream: TextIO = sys.stdout,
) -> int:
    """Run the batch, printing its progress; 0 when every notebook passed."""
    params = parse_parameters(parameters)
    # papermill's own warnings and errors (an unknown parameter, a dead kernel) say less
    # than the lines below and the report do
    logging.getLogger("papermill").setLevel(logging.CRITICAL)

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    def on_event(event: Event) -> None:
        counts = f"[{event.done} done, {event.running} running, {event.failed} failed" + (
            f", {event.total - event.done - event.running} waiting]"
            if event.total > event.done + event.running else "]"
        )  # fmt: skip
        if event.kind == "started":
            say(f"  started  {event.name}  {counts}")
        elif event.kind == "running":
            say(f"  running  {event.name}")
        elif event.result is not None:
            result = event.result
            word = "passed" if result.passed else result.status.upper()
            where = "" if result.passed else f"  {result.where()}"
            say(f"  {word:<8} {result.name}  {duration(result.seconds)}{where}  {counts}")
            if result.unknown_parameters:
                say(f"           parameters {result.name} does not declare: "
                    f"{', '.join(result.unknown_parameters)} (its parameters: "
                    f"{', '.join(result.declared_parameters) or 'none'})")  # fmt: skip

    what = f"{workers} at a time, {duration(timeout)} each at most"
    if kernel_version:
        what += f", on kernel {kernel_version} (its bundle is built first if needed)"
    say(f"batch: {what}; executed notebooks and the report go to {out}")
    report = run_batch(
        sources, out, parameters=params, workers=workers, timeout=timeout,
        kernel_version=kernel_version, on_event=on_event,
        on_progress=lambda message: say(f"  bundle: {message}"),
    )  # fmt: skip
    say(f"batch: {report.summary()}; report: {Path(out) / 'report.html'}")
    return 0 if report.ok else EXIT_NOT_ALL_PASSED
