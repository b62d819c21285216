# SPDX-License-Identifier: MIT
"""Every exercise: its student version fails its check, with its hint; its solution passes.

The student versions are the notebooks ``kernelmagic course student`` writes. For each
lesson only the exercise runs, in one IPython shell with the magics, against one lab VM
for the whole file: the (folded) parameters and set-up cells, the cells tagged
``exercise-setup`` (lesson 05 builds the provider its exercise borrows from), and the code
cells of the ``## Exercise`` section, in notebook order. The student's run must end in a
failed check that the exercise itself raised (not "did not build" or "is not loaded", which
would mean the skeleton is broken) and that carries a hint; the solution's run must raise
nothing at all. Each run starts on a fresh kernel (a restart, from the saved state in a
fraction of a second): a skeleton's leftovers (a debugfs folder, a bound driver, a device
left enabled) must never decide the next run's checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kernelmagic.course.results import CheckFailed
from kernelmagic.course.student import make_student_versions
from kernelmagic.guest import kmod
from kernelmagic.machine.bundle import Bundle

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: Failures that say the exercise did not even get to run: a skeleton must not cause them.
NOT_RUN = re.compile(r"did not build|has not run yet|is not loaded$|is still loaded$")


def exercise_cells(notebook: Path) -> list[str]:
    """The code cells an exercise needs, in notebook order (see the module docstring)."""
    nb = nbformat.read(notebook, as_version=4)
    cells = nb.cells
    heading = re.compile(r"^## Exercise", re.M)
    start = next(i for i, c in enumerate(cells)
                 if c.cell_type == "markdown" and heading.search(c.source))  # fmt: skip
    end = next((i for i in range(start + 1, len(cells))
                if cells[i].cell_type == "markdown" and cells[i].source.startswith("## ")),
               len(cells))  # fmt: skip
    picked = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        hidden = cell.metadata.get("jupyter", {}).get("source_hidden", False)
        if start < i < end or "parameters" in tags or hidden or "exercise-setup" in tags:
            picked.append(cell.source)
    return picked


@dataclass
class Lab:
    shell: Any
    session: Any
    baseline: set[str] = field(default_factory=set)

    def run(self, cells: list[str]) -> list[tuple[str, BaseException]]:
        """Run the cells one after the other, as a learner would; the errors they raised."""
        errors = []
        for source in cells:
            result = self.shell.run_cell(source, store_history=False)
            if result.error_in_exec is not None:
                errors.append((source, result.error_in_exec))
        return errors

    def clean(self) -> None:
        """A fresh kernel for the next run (the machine stays: edu for the PCI lessons)."""
        self.session.restart()
        assert {m.name for m in kmod.lsmod(self.session.vm)} == self.baseline


@pytest.fixture(scope="module")
def lab(bundle: Bundle) -> Iterator[Lab]:
    from IPython.core.interactiveshell import InteractiveShell

    from kernelmagic.notebook.magics import register
    from kernelmagic.notebook.session import LabSession, set_session

    session = LabSession(show=lambda _obj: None, progress=False)
    old = set_session(session)  # lessons call get_session(); checks use its workspace
    shell = InteractiveShell.instance()
    register(shell, session)
    try:
        lab = Lab(shell, session)
        lab.baseline = {m.name for m in kmod.lsmod(session.vm)}
        yield lab
    finally:
        set_session(old)
        session.shutdown()
        vm = session.last_vm
        assert vm is None or not vm.is_running()


@pytest.fixture(scope="module")
def students(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student")
    make_student_versions(NOTEBOOKS, out)
    return out


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_student_fails_its_check_and_solution_passes(
    lesson: Path, students: Path, lab: Lab
) -> None:
    lab.clean()
    student_errors = lab.run(exercise_cells(students / lesson.name))
    lab.clean()
    failed = [exc for _src, exc in student_errors if isinstance(exc, CheckFailed)]
    assert failed, (
        f"{lesson.name}: the student version passed every check; errors: {student_errors}"
    )
    first = failed[0]
    reason = first.report.failures[0] if first.report is not None else None
    message = reason.message if reason is not None else first.message
    assert not NOT_RUN.search(message.splitlines()[0]), (
        f"{lesson.name}: the student version failed before its exercise ran: {message}"
    )
    assert first.hint, f"{lesson.name}: the failed check gives no hint: {message}"

    solution_errors = lab.run(exercise_cells(lesson))
    lab.clean()
    assert not solution_errors, f"{lesson.name}: the solution failed: {solution_errors}"
