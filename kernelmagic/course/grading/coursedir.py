# SPDX-License-Identifier: MIT
"""``kernelmagic course nbgrader DIR``: an nbgrader course folder made from the lessons.

It writes ``DIR/nbgrader_config.py`` (once: an instructor's edits are kept) and
``DIR/source/NN_topic/NN_topic.ipynb`` for every lesson, each cell carrying nbgrader's
metadata as :mod:`kernelmagic.course.grading.cells` decides. Release, fetch, submit and
collect go through ``DIR/exchange`` unless ``--exchange`` names a shared one (a course
server's, where every learner's server reaches the same folder). The lessons in
``notebooks/`` stay the only thing anyone edits: the metadata is generated, so nbval,
papermill and JupyterLab never see it, and running the command again after a lesson
changed brings the course up to date. Nothing here imports nbgrader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.course.grading.cells import nbgrader_metadata, roles
from kernelmagic.course.student import DEFAULT_NOTEBOOKS, lesson_files
from kernelmagic.errors import UsageError
from kernelmagic.files import write_atomically

__all__ = ["CONFIG_NAME", "CourseFolder", "config_text", "source_notebook", "write_course"]

CONFIG_NAME = "nbgrader_config.py"
#: Seconds one cell may run while grading. A lesson's slowest cell takes about 8 s on a
#: 2-core TCG host; a module stuck in init or exit is given up after 10 s without a new
#: kernel-log line (at most 60 s) and the VM restarted, a guest shell command after 60 s:
#: 120 s leaves room for the slowest of these, and still stops a cell that never returns.
CELL_TIMEOUT = 120
#: Seconds for the kernel to start (the VM starts later, with the first cell that needs it).
STARTUP_TIMEOUT = 120
_ASSIGNMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_PRE = "kernelmagic.course.grading.preprocessors"


@dataclass
class CourseFolder:
    """What :func:`write_course` did."""

    root: Path
    assignments: list[str] = field(default_factory=list)
    config_written: bool = False

    @property
    def config(self) -> Path:
        return self.root / CONFIG_NAME


def _exchange_lines(exchange: Path | None) -> str:
    """The config's exchange setting: the course's own folder, or a shared one."""
    if exchange is None:
        return """\
# release_assignment / fetch / submit / collect go through a folder of the course: no
# root needed, unlike nbgrader's default /srv/nbgrader/exchange.
c.Exchange.root = os.path.join(here, "exchange")"""
    return f"""\
# release_assignment / fetch / submit / collect go through the shared exchange every
# student's Jupyter server reaches too (mode 1777, like nbgrader's /srv/nbgrader/exchange).
c.Exchange.root = {str(exchange)!r}"""


def config_text(course_id: str, exchange: Path | None = None) -> str:
    """The ``nbgrader_config.py`` of the course: nbgrader's lists with our steps in them.

    ``exchange`` is an absolute shared exchange folder; without it, ``DIR/exchange``.
    """
    return f'''\
# SPDX-License-Identifier: MIT
# nbgrader's configuration for the kernelmagic course, written by
# `kernelmagic course nbgrader`. Run nbgrader in this folder, from the environment
# that has kernelmagic (.venv/bin/nbgrader in a checkout, PREFIX/venv/bin/nbgrader on a
# course server), or use the formgrader in JupyterLab.
# Running the command again refreshes source/ from the lessons and keeps this file.
import os
import sys

c = get_config()  # noqa: F821 (traitlets defines it)
here = os.path.dirname(os.path.abspath(__file__))
# nbgrader runs `alembic` from PATH: find it beside this Python even when the
# environment is not activated (.venv/bin/nbgrader ...).
bin_dir = os.path.dirname(sys.executable)
if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = here
{_exchange_lines(exchange)}

# The student version: a %%kmodule cell's solution becomes its TODO skeleton (C that
# builds), hidden checks and instructor-only text go, the gradebook keeps them all.
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "{_PRE}.ClearCSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "{_PRE}.ClearInstructorOnly",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Grading: a file that is not a notebook is a zero, not a stopped run; before anything
# runs, only the exercise cells are the student's, and each must still be the
# %%kmodule cell it was; after the run, a refused exercise's checks score zero.
c.Autograde.exporter_class = "kernelmagic.course.grading.exporter.SubmissionExporter"
c.Autograde.sanitize_preprocessors = [
    "{_PRE}.RestoreGradingMetadata",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "{_PRE}.GuardSubmission",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "{_PRE}.ScoreChecks",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Each submission runs in a kernel of its own, hence in a lab VM of its own, started
# from the saved booted state. nbgrader sets NBGRADER_EXECUTION=autograde for it, which
# makes kernelmagic build the student's C in a bubblewrap sandbox and take --cflags only
# from an allow-list. A cell gets {CELL_TIMEOUT} s (a stuck module is given up on sooner, and the VM
# restarted); a log flood is cut to LimitOutput.max_lines lines.
c.Execute.timeout = {CELL_TIMEOUT}
c.Execute.startup_timeout = {STARTUP_TIMEOUT}
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Feedback shows every check's result, not the text of hidden checks.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "{_PRE}.FeedbackView",
]
'''


def source_notebook(lesson: Path) -> object:
    """The lesson as nbgrader's source: the same cells, each with its nbgrader metadata."""
    import nbformat  # only course tooling needs it

    nb = nbformat.read(lesson, as_version=4)
    for cell, role in zip(nb.cells, roles(nb.cells, where=lesson.name), strict=True):
        cell.metadata["nbgrader"] = nbgrader_metadata(role)
    nb.metadata.pop("widgets", None)  # the state of widgets from the author's last run
    return nb


def write_course(
    root: Path | str,
    notebooks: Path | str | None = None,
    *,
    course_id: str = "kernelmagic",
    exchange: Path | str | None = None,
) -> CourseFolder:
    """Write (or refresh) the nbgrader course folder ``root`` from the lessons.

    ``notebooks`` is a folder of lessons or one notebook (default ``./notebooks``).
    Every lesson becomes the assignment named after its file. ``exchange`` is an
    existing shared exchange folder to use instead of ``root/exchange`` (only a config
    written now takes it: an existing one is kept as it is).
    """
    import nbformat

    source = Path(notebooks) if notebooks is not None else DEFAULT_NOTEBOOKS
    if notebooks is None and not source.is_dir():
        raise UsageError(
            f"no lessons at ./{DEFAULT_NOTEBOOKS} ({source.resolve()}): run this in the "
            "repository's root, or give --notebooks DIR (or one .ipynb file)"
        )
    lessons = lesson_files(source)
    if not lessons:
        raise UsageError(f"{source} holds no notebook (*.ipynb): nothing to grade")
    root = Path(root).resolve()
    lesson_dir = lessons[0].resolve().parent
    if root == lesson_dir or lesson_dir in root.parents:
        raise UsageError(
            f"{root} is inside the lessons' folder {lesson_dir}; put the course elsewhere, "
            f"e.g. {lesson_dir.parent / 'build' / 'course'}"
        )
    for lesson in lessons:
        if not _ASSIGNMENT.fullmatch(lesson.stem):
            raise UsageError(f"{lesson.name}: nbgrader needs letters, digits, _ . - in a name")
    shared = _shared_exchange(exchange) if exchange is not None else None
    notebooks_out = [(lesson.stem, source_notebook(lesson)) for lesson in lessons]

    done = CourseFolder(root)
    root.mkdir(parents=True, exist_ok=True)
    if shared is None:
        (root / "exchange").mkdir(exist_ok=True)
    if not done.config.exists():
        write_atomically(done.config, config_text(course_id, shared))
        done.config_written = True
    for name, nb in notebooks_out:
        path = root / "source" / name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, nbformat.writes(nb) + "\n")
        done.assignments.append(name)
    return done


def _shared_exchange(exchange: Path | str) -> Path:
    """The shared exchange, absolute; it must exist, since students' servers use it too."""
    path = Path(exchange).expanduser().resolve()
    if not path.is_dir():
        raise UsageError(
            f"no exchange folder at {path}: make it first, writable by every student "
            f"(as root: install -d -m 1777 {path}), or leave out --exchange for a "
            "folder inside the course"
        )
    return path
