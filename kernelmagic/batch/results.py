# SPDX-License-Identifier: MIT
"""What a batch run found: one :class:`NotebookResult` per notebook, and the whole report.

``report.json`` is :meth:`BatchReport.to_json`; ``report.html`` renders the same data
(:mod:`kernelmagic.batch.html`). A notebook ends in one of these states:

- ``passed``: every cell ran; cells tagged as expected failures may have failed;
- ``failed``: a cell raised (``failure`` names it, with its error);
- ``timed out``: stopped at its deadline (``running_cell`` is the one that never ended);
- ``kernel died``: the Jupyter kernel exited while a cell ran;
- ``error``: it could not run at all (not a notebook, no such kernel).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["STATES", "BatchReport", "CellFailure", "ExpectedFailure", "NotebookResult"]

STATES = ("passed", "failed", "timed out", "kernel died", "error")
REPORT_FORMAT = 1


@dataclass(frozen=True)
class CellFailure:
    """A cell that raised: where it is, its source, and its error as the notebook shows it."""

    cell: int  # 1-based position in the executed notebook
    execution_count: int | None
    source: str
    ename: str = ""
    evalue: str = ""
    traceback: str = ""

    @property
    def label(self) -> str:
        count = f" (In [{self.execution_count}])" if self.execution_count is not None else ""
        return f"cell {self.cell}{count}"


@dataclass(frozen=True)
class ExpectedFailure:
    """A cell tagged as failing on purpose, and what it showed."""

    cell: int
    raised: bool  # False: the cell caught the error itself (and showed it)
    summary: str


@dataclass
class NotebookResult:
    """One notebook of the batch."""

    name: str
    source: str
    output: str  # the executed notebook, relative to the report's folder ("" if none)
    status: str = "error"
    seconds: float = 0.0
    message: str = ""
    cells: int = 0
    cells_run: int = 0
    failure: CellFailure | None = None
    running_cell: CellFailure | None = None
    kernel_log: list[str] = field(default_factory=list)
    kernel_log_source: str = ""
    expected_failures: list[ExpectedFailure] = field(default_factory=list)
    declared_parameters: list[str] = field(default_factory=list)
    unknown_parameters: list[str] = field(default_factory=list)
    peak_kernel_mib: float = 0.0
    peak_vm_mib: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def peak_mib(self) -> float:
        return self.peak_kernel_mib + self.peak_vm_mib

    def where(self) -> str:
        """One line: what went wrong and where, for the terminal and the summary table."""
        if self.failure is not None:
            error = f"{self.failure.ename}: {self.failure.evalue}".strip(": ")
            return f"{self.failure.label}: {first_line(error)}"
        if self.running_cell is not None:
            return f"{self.running_cell.label} was running: {self.message}"
        return self.message

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotebookResult:
        data = dict(data)
        for key in ("failure", "running_cell"):
            if data.get(key) is not None:
                data[key] = CellFailure(**data[key])
        expected = data.get("expected_failures", [])
        data["expected_failures"] = [ExpectedFailure(**e) for e in expected]
        data.pop("peak_mib", None)
        return cls(**data)


@dataclass
class BatchReport:
    """The whole run: its settings, each notebook's result, and when it ran."""

    notebooks: list[NotebookResult]
    workers: int
    timeout: float
    parameters: dict[str, Any]
    kernel_name: str
    kernel_release: str
    started: str
    seconds: float

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.notebooks)

    def counts(self) -> dict[str, int]:
        return {state: sum(1 for r in self.notebooks if r.status == state) for state in STATES}

    def summary(self) -> str:
        """ "16 passed, 1 failed, 1 timed out of 18 in 12 min 3 s"."""
        parts = [f"{n} {state}" for state, n in self.counts().items() if n]
        return f"{', '.join(parts) or 'nothing run'} of {len(self.notebooks)} in " + duration(
            self.seconds
        )

    def to_json(self) -> str:
        data = asdict(self)
        for result, entry in zip(self.notebooks, data["notebooks"], strict=True):
            entry["peak_mib"] = round(result.peak_mib, 1)
        data["format"] = REPORT_FORMAT
        data["ok"] = self.ok
        data["counts"] = self.counts()
        data["summary"] = self.summary()
        return json.dumps(data, indent=1, default=str) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BatchReport:
        data = json.loads(text)
        for key in ("format", "ok", "counts", "summary"):
            data.pop(key, None)
        data["notebooks"] = [NotebookResult.from_dict(n) for n in data["notebooks"]]
        return cls(**data)

    @classmethod
    def read(cls, folder: Path) -> BatchReport:
        return cls.from_json((Path(folder) / "report.json").read_text())


def first_line(text: str, limit: int = 200) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def duration(seconds: float) -> str:
    """ "41.3 s", "12 min 3 s", "1 h 2 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
