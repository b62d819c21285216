# SPDX-License-Identifier: MIT
"""Batch runs of notebooks with papermill, for instructors: ``kernelmagic batch run``.

``runner`` executes notebooks on the course's kernel, N at a time, each in its own lab
VM and under a wall-clock deadline; ``results`` is what it found (``report.json``);
``html`` renders ``report.html``; ``command`` is the command line's side (progress on
the terminal). The layer sits above ``course`` (it reads the course's cell tags) and
needs no IPython.
"""

from kernelmagic.batch.results import BatchReport, CellFailure, ExpectedFailure, NotebookResult
from kernelmagic.batch.runner import Event, collect_notebooks, run_batch

__all__ = [
    "BatchReport",
    "CellFailure",
    "Event",
    "ExpectedFailure",
    "NotebookResult",
    "collect_notebooks",
    "run_batch",
]
