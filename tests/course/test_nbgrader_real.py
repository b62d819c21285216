# SPDX-License-Identifier: MIT
"""A synthetic class graded by nbgrader for real, each notebook in a lab VM of its own.

The assignment is two lessons, made by ``kernelmagic course nbgrader`` from the lessons
themselves: 00 (welcome) and 02 (hello kernel), each with a check and a hidden check.
Every student solves 00 correctly; lesson 02's exercise is what differs:

- ``s9_correct`` solves it; the others have a module that oopses in init, hangs in init,
  does not build, includes a host file, asks for a gcc plugin in its magic line, was
  turned into Python that writes a host file, is not JSON at all, or has no cells.

``generate_assignment`` → submissions placed as ``collect`` leaves them → ``autograde``
→ ``export`` and ``generate_feedback``: each student gets exactly the points deserved,
the refusals are one line each in nbgrader's log, nothing a submission tried reaches the
host, and each notebook ran in a kernel, hence a VM, of its own. About three minutes.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from kernelmagic.course.grading.coursedir import write_course

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ASSIGNMENT = "week1"
WELCOME, HELLO = "00_welcome", "02_hello_kernel"
SECRET = "SECRET_TOKEN_abc123"
MORNING = '\tpr_info("greet: good morning, kernel\\n");'
STUDENTS = ("s1_oops", "s2_hang", "s3_build", "s4_include", "s5_plugin", "s6_python",
            "s7_broken", "s8_empty", "s9_correct")  # fmt: skip


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True,
        text=True, timeout=1800, check=False,
    )  # fmt: skip


class KernelWatch:
    """Which kernel process started each QEMU of this test run, seen every 0.1 s."""

    def __init__(self) -> None:
        self.mark = f"KERNELMAGIC_TEST_RUN={os.environ.get('KERNELMAGIC_TEST_RUN', '')}"
        self.parents: dict[int, int] = {}  # QEMU pid -> the kernel that started it
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or int(proc.name) in self.parents:
                    continue
                try:
                    argv = (proc / "cmdline").read_bytes().split(b"\0")
                    ours = self.mark.encode() in (proc / "environ").read_bytes().split(b"\0")
                    ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ours and b"qemu-system" in argv[0]:
                    self.parents[int(proc.name)] = ppid

    def __enter__(self) -> KernelWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class Graded:
    course: Path
    tmp: Path
    autograde: subprocess.CompletedProcess[str]
    feedback: subprocess.CompletedProcess[str]
    rows: dict[str, dict[str, str]]
    grades: dict[tuple[str, str, str], tuple[float | None, bool]]
    kernels: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def log(self) -> str:
        return self.autograde.stdout + self.autograde.stderr


def _evil_plugin(tmp: Path) -> tuple[Path, Path]:
    marker = tmp / "plugin-ran"
    source = tmp / "evil.c"
    source.write_text(
        "#include <stdio.h>\n"
        f'__attribute__((constructor)) static void ran(void) {{ fopen("{marker}", "w"); }}\n'
        "int plugin_is_GPL_compatible;\n"
    )
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp / "evil.so"), str(source)],
                   check=True)  # fmt: skip
    return tmp / "evil.so", marker


def _exercises(tmp: Path, solution: str) -> dict[str, str | None]:
    """Each student's lesson-02 exercise cell (None: the notebook is not the lesson's)."""
    plugin, _marker = _evil_plugin(tmp)
    first, rest = solution.split("\n", 1)
    return {
        "s1_oops": solution.replace(MORNING, MORNING + "\n\t*(volatile int *)0 = 1;"),
        "s2_hang": solution.replace("#include <linux/init.h>", "#include <linux/delay.h>\n"
                                    "#include <linux/init.h>").replace(
            MORNING, MORNING + "\n\twhile (1)\n\t\tmsleep(1000);"),
        "s3_build": solution.replace('MODULE_LICENSE("GPL");', 'MODULE_LICENSE("GPL")\nnot C;'),
        "s4_include": solution.replace("#include <linux/init.h>",
                                       f'#include "{tmp / "host-secret.txt"}"'),
        "s5_plugin": f'{first} --cflags "-fplugin={plugin}"\n{rest}',
        "s6_python": f"open({str(tmp / 'pwned.txt')!r}, 'w').write('pwned')\n",
        "s7_broken": None,
        "s8_empty": None,
        "s9_correct": solution,
    }  # fmt: skip


def _solutions(course: Path) -> dict[str, str]:
    found = {}
    for name in (WELCOME, HELLO):
        nb = nbformat.read(course / "source" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.metadata.nbgrader["solution"]:
                found[cell.metadata.nbgrader["grade_id"]] = cell.source
    return found


def _submit(course: Path, student: str, name: str, exercise: str | None) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    if student == "s7_broken" and name == HELLO:
        path.write_text('{"cells": [ {"cell_type": "code", "source": "this is not JSON')
        return
    if student == "s8_empty" and name == HELLO:
        nbformat.write(nbformat.v4.new_notebook(), path)
        return
    nb = nbformat.read(course / "release" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = exercise
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def graded(bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Graded]:
    tmp = tmp_path_factory.mktemp("class")
    (tmp / "host-secret.txt").write_text(f"{SECRET}\n")
    course = tmp / "course"
    for name in (WELCOME, HELLO):  # two lessons, one assignment
        write_course(course, NOTEBOOKS / f"{name}.ipynb")
        (course / "source" / ASSIGNMENT).mkdir(parents=True, exist_ok=True)
        (course / "source" / name / f"{name}.ipynb").rename(
            course / "source" / ASSIGNMENT / f"{name}.ipynb")  # fmt: skip
        (course / "source" / name).rmdir()
    run = nbgrader(course, "generate_assignment", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    solutions = _solutions(course)
    exercises = _exercises(tmp, solutions["exercise-greet"])
    for student in STUDENTS:
        _submit(course, student, WELCOME, solutions["exercise-welcome"])
        _submit(course, student, HELLO, exercises[student])

    started = time.monotonic()
    with KernelWatch() as watch:
        autograde = nbgrader(course, "autograde", ASSIGNMENT)
    seconds = time.monotonic() - started
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT)
    export = nbgrader(course, "export", "--to", str(tmp / "grades.csv"))
    assert export.returncode == 0, export.stdout + export.stderr
    with (tmp / "grades.csv").open() as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}

    from nbgrader.api import Gradebook

    grades = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            submission = gb.find_submission(ASSIGNMENT, student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    grades[(student, notebook.name, grade.name)] = (
                        grade.auto_score, grade.needs_manual_grade)  # fmt: skip
    yield Graded(course, tmp, autograde, feedback, rows, grades, watch.parents, seconds)
    shutil.rmtree(tmp, ignore_errors=True)


def test_the_run_grades_every_submission(graded: Graded) -> None:
    assert graded.autograde.returncode == 0, graded.log[-5000:]
    assert "There was an error processing" not in graded.log
    assert "Traceback" not in graded.log


def test_each_student_gets_exactly_the_points_deserved(graded: Graded) -> None:
    scores = {s: (float(r["score"]), float(r["max_score"])) for s, r in graded.rows.items()}
    assert scores == {s: (4.0 if s == "s9_correct" else 2.0, 4.0) for s in STUDENTS}
    for student in STUDENTS:
        full = student == "s9_correct"
        assert {key[1:]: value for key, value in graded.grades.items() if key[0] == student} == {
            (WELCOME, "check-welcome"): (1.0, False),
            (WELCOME, "hidden-welcome"): (1.0, False),
            (HELLO, "check-greet"): (1.0 if full else 0.0, False),
            (HELLO, "hidden-greet"): (1.0 if full else 0.0, False),
        }, student


def test_refusals_are_one_line_each_in_nbgraders_log(graded: Graded) -> None:
    log = graded.log
    for line in (
        f"s7_broken: {HELLO}: not a notebook nbgrader can read (Notebook does not appear to "
        "be JSON",
        f"s8_empty: {HELLO}: exercise greet scores zero: the exercise cell '%%kmodule greet' "
        "is missing",
        f"s6_python: {HELLO}: exercise greet scores zero: the exercise cell must begin with "
        "'%%kmodule greet', the submission's begins with \"open(",
        f"s5_plugin: {HELLO}: exercise greet scores zero: the exercise cell must begin with "
        "'%%kmodule greet', the submission's begins with '%%kmodule greet --cflags",
    ):
        assert log.count(line) == 1, (line, log[-5000:])


def test_nothing_a_submission_tried_reaches_the_host(graded: Graded) -> None:
    assert not (graded.tmp / "pwned.txt").exists()
    assert not (graded.tmp / "plugin-ran").exists()
    assert SECRET not in graded.log
    outputs = [*(graded.course / "autograded").rglob("*.ipynb"),
               *(graded.course / "feedback").rglob("*.html")]  # fmt: skip
    assert len(outputs) == 4 * len(STUDENTS)  # the unreadable one too: graded as empty
    for path in outputs:
        assert SECRET not in path.read_text(errors="replace"), path
    include = nbformat.read(graded.course / "autograded" / "s4_include" / ASSIGNMENT /
                            f"{HELLO}.ipynb", as_version=4)  # fmt: skip
    assert "host-secret.txt: No such file or directory" in nbformat.writes(include)


def test_each_notebook_ran_in_a_kernel_and_a_vm_of_its_own(graded: Graded) -> None:
    kernels = set(graded.kernels.values())
    for pid in kernels:  # the QEMUs' parents are kernels of the course's kernelspec, gone now
        assert not Path(f"/proc/{pid}").exists()
    # 00 for every student, 02 for the seven whose notebook had cells to run in a VM
    assert len(kernels) == len(STUDENTS) + 7, graded.kernels
    assert len(graded.kernels) > len(kernels)  # the oops and the hang restarted their VM


def test_feedback_shows_results_not_the_hidden_checks(graded: Graded) -> None:
    assert graded.feedback.returncode == 0, graded.feedback.stderr[-3000:]
    page = graded.course / "feedback" / "s9_correct" / ASSIGNMENT / f"{HELLO}.html"
    text = page.read_text()
    assert "rmmod greet logged" in text and "BEGIN HIDDEN TESTS" not in text
    refused = graded.course / "feedback" / "s6_python" / ASSIGNMENT / f"{HELLO}.html"
    assert "NotGraded" in refused.read_text()
    assert "kernelmagic did not run this cell" in refused.read_text()
