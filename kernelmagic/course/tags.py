# SPDX-License-Identifier: MIT
"""The cell tags the course gives meaning to, in one place for every tool that reads them.

Tags are what JupyterLab's property inspector edits, and what papermill, nbval and
nbgrader already read, so a lesson author marks a cell once and every tool agrees:

- ``parameters`` (papermill's): the lesson's parameters, injected into by batch runs;
- ``instructor-only``: a cell that only the instructor should see (set-up notes, a hint
  that states the answer); student versions drop it;
- ``expected-failure``: a cell that fails on purpose (a refused ``insmod``, a build that
  must not compile). Batch runs and grading go on past it, and the batch report shows it
  as "expected failure", apart from real failures. nbval's own ``raises-exception`` is
  read the same way, so a cell needs only one of the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "EXPECTED_FAILURE",
    "EXPECTED_FAILURE_TAGS",
    "INSTRUCTOR_ONLY",
    "PARAMETERS",
    "RAISES_EXCEPTION",
    "has_tag",
    "tags_of",
]

PARAMETERS = "parameters"
INSTRUCTOR_ONLY = "instructor-only"
EXPECTED_FAILURE = "expected-failure"
#: nbval's and nbclient's tag for a cell allowed to raise.
RAISES_EXCEPTION = "raises-exception"
EXPECTED_FAILURE_TAGS = (EXPECTED_FAILURE, RAISES_EXCEPTION)


def tags_of(cell: Mapping[str, Any]) -> list[str]:
    """A cell's tags (none when its metadata has no ``tags`` list)."""
    tags = cell.get("metadata", {}).get("tags", [])
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def has_tag(cell: Mapping[str, Any], *tags: str) -> bool:
    """Whether the cell carries any of ``tags``."""
    return any(t in tags for t in tags_of(cell))
