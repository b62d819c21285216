# SPDX-License-Identifier: MIT
"""What an executed notebook says about its run: the cell that failed, the expected failures.

Pure reading of the notebook papermill saved (no kernel, no papermill): a cell papermill
marked, or one with an error output that no expected-failure tag allows, stopped the run;
cells tagged as deliberate failures are listed with their first line of output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kernelmagic.batch.results import CellFailure, ExpectedFailure
from kernelmagic.course.tags import EXPECTED_FAILURE_TAGS, tags_of

__all__ = ["expected_failures", "failed_cell"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def failed_cell(nb: Any) -> CellFailure | None:
    """The cell that stopped the run: papermill marks it; an error output says what."""
    if nb is None:
        return None
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        marked = cell.metadata.get("papermill", {}).get("exception")
        allowed = any(t in tags_of(cell) for t in EXPECTED_FAILURE_TAGS)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if marked or (errors and not allowed):
            err = errors[0] if errors else {}
            return CellFailure(
                number, cell.get("execution_count"), cell.source, str(err.get("ename", "")),
                _ANSI.sub("", str(err.get("evalue", ""))),
                _ANSI.sub("", "\n".join(err.get("traceback", []))),
            )  # fmt: skip
    return None


def expected_failures(nb: Any) -> list[ExpectedFailure]:
    found = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or not any(t in tags_of(cell) for t in EXPECTED_FAILURE_TAGS):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            text = f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"
        else:
            text = next((_output_text(o) for o in cell.get("outputs", []) if _output_text(o)),
                        "(no output)")  # fmt: skip
        first = (_ANSI.sub("", text).strip().splitlines() or [""])[0]
        found.append(ExpectedFailure(number, bool(errors), first[:300]))
    return found


def _output_text(output: Mapping[str, Any]) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", "")).strip()
    return str(output.get("data", {}).get("text/plain", "")).strip()
