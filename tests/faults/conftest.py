# SPDX-License-Identifier: MIT
"""The fault suite's lab: the magics in a real IPython shell, over a real lab VM.

Each test gets a session of its own (booted on first need, from the saved state in a
fraction of a second), so that one fault's wreckage never reaches the next test; the
session's VM is always stopped. ``line_of`` gives the line of a cell as JupyterLab
numbers it (the ``%%kmodule`` line is line 1), which is what the learner is told.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernelmagic.machine.bundle import Bundle
from tests.doubles.shell_lab import ShellLab, real_lab

FaultLab = ShellLab


def line_of(cell: str, marker: str, *, first_line: int = 2) -> int:
    """The cell line (the magic's line is 1) of the first source line holding ``marker``."""
    for number, text in enumerate(cell.splitlines(), start=first_line):
        if marker in text:
            return number
    raise AssertionError(f"{marker!r} is not in the cell")


@pytest.fixture
def lab(bundle: Bundle) -> Iterator[FaultLab]:
    with real_lab() as harness:
        yield harness
