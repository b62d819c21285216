# SPDX-License-Identifier: MIT
"""The nbgrader course: cell roles, the course folder, and the preprocessors (no VM).

nbgrader itself runs here for real (``generate_assignment`` fills its gradebook); the
grading preprocessors are then applied to doctored submissions one by one, as
``nbgrader autograde`` applies them before it runs anything. The runs in the lab VM are
in ``test_nbgrader_real.py``.
"""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from kernelmagic.course.grading import cells as grading_cells
from kernelmagic.course.grading.coursedir import CONFIG_NAME, config_text, write_course
from kernelmagic.course.student import strip_solutions
from kernelmagic.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Kernel Lab (Python 3)", "language": "python", "name": "kernelmagic"}

ONE = "%%kmodule one\n/* TODO: x */\n/* BEGIN SOLUTION */\nint x = 1;\n/* END SOLUTION */\n"
TWO = '%%kmodule two --cflags "-DX"\n/* BEGIN SOLUTION */\nint y = 2;\n/* END SOLUTION */\n'
CHECK_ONE = "from kernelmagic.course import check\ncheck.check_all(lambda: None)"
CHECK_TWO = (
    "check.check_all(lambda: None)\n### BEGIN HIDDEN TESTS\nhidden_two = True\n### END HIDDEN TESTS"
)


def lesson() -> NotebookNode:
    """A lesson of two exercises, each with its check; the second has a hidden check."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Two exercises"),
        nbformat.v4.new_code_cell(CHECK_ONE),  # a check of a demo: not graded
        nbformat.v4.new_code_cell(ONE),
        nbformat.v4.new_code_cell(CHECK_ONE),
        nbformat.v4.new_code_cell(TWO),
        nbformat.v4.new_code_cell(CHECK_TWO),
        nbformat.v4.new_code_cell("print('the end')"),
    ]
    return nb


# -- cell roles ----------------------------------------------------------------------------


def test_each_cell_gets_its_role() -> None:
    roles = grading_cells.roles(lesson().cells)
    assert [(r.kind, r.grade_id, r.points) for r in roles] == [
        ("locked", "cell-1", 0),
        ("locked", "cell-2", 0),
        ("exercise", "exercise-one", 0),
        ("check", "check-one", 1),
        ("exercise", "exercise-two", 0),
        ("hidden", "hidden-two", 1),
        ("locked", "cell-7", 0),
    ]
    assert [grading_cells.exercise_of(r.grade_id) for r in roles] == [
        None, None, "one", "one", "two", "two", None,
    ]  # fmt: skip


def test_a_solution_in_python_is_refused() -> None:
    cells = [nbformat.v4.new_code_cell("x = 1\n# BEGIN SOLUTION\nx = 2\n# END SOLUTION\n")]
    with pytest.raises(UsageError, match="would run on the grading machine"):
        grading_cells.roles(cells, where="lesson.ipynb")


@pytest.mark.parametrize("lesson_file", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: p.stem)  # fmt: skip
def test_every_lesson_has_a_graded_exercise(lesson_file: Path) -> None:
    from nbgrader.nbgraderformat import MetadataValidator

    from kernelmagic.course.grading.coursedir import source_notebook

    nb: Any = source_notebook(lesson_file)
    MetadataValidator().validate_nb(nb)
    kinds = [c.metadata.nbgrader for c in nb.cells]
    assert any(m["solution"] for m in kinds) and any(m["grade"] for m in kinds)
    assert all(m["locked"] != m["solution"] for m in kinds)
    for cell in nb.cells:
        if cell.metadata.nbgrader["solution"]:
            assert grading_cells.magic_words(cell.source)[0] in grading_cells.C_MAGICS


# -- the course folder ----------------------------------------------------------------------


def test_the_course_folder_has_config_sources_and_exchange(tmp_path: Path) -> None:
    done = write_course(tmp_path / "course", NOTEBOOKS / "02_hello_kernel.ipynb")
    assert done.config_written and done.assignments == ["02_hello_kernel"]
    assert (tmp_path / "course" / "exchange").is_dir()
    source = tmp_path / "course" / "source" / "02_hello_kernel" / "02_hello_kernel.ipynb"
    nb = nbformat.read(source, as_version=4)
    assert "widgets" not in nb.metadata
    assert {c.metadata.nbgrader["grade_id"] for c in nb.cells} >= {"exercise-greet", "check-greet"}
    text = (tmp_path / "course" / CONFIG_NAME).read_text()
    compile(text, CONFIG_NAME, "exec")
    assert "c.CourseDirectory.course_id = 'kernelmagic'" in text


def test_running_it_again_refreshes_the_lessons_and_keeps_the_config(tmp_path: Path) -> None:
    write_course(tmp_path, NOTEBOOKS / "02_hello_kernel.ipynb")
    (tmp_path / CONFIG_NAME).write_text("# mine\n")
    done = write_course(tmp_path, NOTEBOOKS / "02_hello_kernel.ipynb")
    assert not done.config_written and (tmp_path / CONFIG_NAME).read_text() == "# mine\n"


def test_the_course_is_not_written_among_the_lessons(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="inside the lessons' folder"):
        write_course(NOTEBOOKS / "course", NOTEBOOKS)
    with pytest.raises(UsageError, match="holds no notebook"):
        write_course(tmp_path / "course", tmp_path)


def test_the_command_line_writes_the_course(tmp_path: Path) -> None:
    from kernelmagic.cli.app import main

    lesson_file = NOTEBOOKS / "00_welcome.ipynb"
    assert main(["course", "nbgrader", str(tmp_path), "--notebooks", str(lesson_file)]) == 0
    assert (tmp_path / "source" / "00_welcome" / "00_welcome.ipynb").is_file()
    assert main(["course", "nbgrader", str(NOTEBOOKS / "x"), "--notebooks", str(NOTEBOOKS)]) == 2


def _config() -> Any:
    from traitlets.config import Config

    namespace: dict[str, Any] = {"c": Config(), "__file__": "/x/nbgrader_config.py"}
    namespace["get_config"] = lambda: namespace["c"]
    exec(compile(config_text("kernelmagic"), CONFIG_NAME, "exec"), namespace)
    return namespace["c"]


def _names(items: list[Any]) -> list[str]:
    return [i if isinstance(i, str) else f"{i.__module__}.{i.__name__}" for i in items]


def test_the_config_is_nbgraders_own_lists_with_our_steps_in_them() -> None:
    """Catches a new nbgrader whose default lists changed under our copies of them."""
    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback

    ours = "kernelmagic.course.grading"
    config = _config()
    for cls, key, replaced in (
        (GenerateAssignment, "preprocessors", {"ClearSolutions": "ClearCSolutions"}),
        (Autograde, "sanitize_preprocessors", {}),
        (Autograde, "autograde_preprocessors", {}),
        (GenerateFeedback, "preprocessors", {}),
    ):
        theirs = [n.rsplit(".", 1)[1] for n in _names(cls.class_traits()[key].default())]
        mine = _names(config[cls.__name__][key])
        kept = [n.rsplit(".", 1)[1] for n in mine if not n.startswith(ours)]
        assert kept == [n for n in theirs if n not in replaced], (cls.__name__, key)
        for name in mine:  # every name imports
            module, _, attr = name.rpartition(".")
            assert hasattr(__import__(module, fromlist=[attr]), attr), name


# -- nbgrader's own generate_assignment, and the grading preprocessors ---------------------


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course of one synthetic lesson, released by nbgrader (gradebook filled)."""
    root = tmp_path_factory.mktemp("course")
    lessons = root / "lessons"
    lessons.mkdir()
    nbformat.write(lesson(), lessons / "lesson.ipynb")
    write_course(root / "course", lessons)
    run = nbgrader(root / "course", "generate_assignment", "lesson")
    assert run.returncode == 0, run.stdout + run.stderr
    return root / "course"


def release(course: Path) -> NotebookNode:
    return nbformat.read(course / "release" / "lesson" / "lesson.ipynb", as_version=4)


def cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_the_student_version_has_the_c_skeleton_and_no_hidden_check(course: Path) -> None:
    nb = release(course)
    assert cell(nb, "exercise-one").source == strip_solutions(ONE)
    assert "/* TODO: x */" in cell(nb, "exercise-one").source
    assert cell(nb, "exercise-two").source.startswith('%%kmodule two --cflags "-DX"\n')
    assert "NotImplementedError" not in nbformat.writes(nb)
    assert "hidden_two" not in cell(nb, "hidden-two").source
    assert "execution" not in cell(nb, "exercise-one").metadata


@pytest.fixture
def grade(course: Path, caplog: pytest.LogCaptureFixture) -> Callable[..., NotebookNode]:
    """Run autograde's sanitizing steps (ours and nbgrader's) on a doctored release."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    from kernelmagic.course.grading.preprocessors import GuardSubmission, RestoreGradingMetadata

    caplog.set_level(logging.WARNING, logger="grading")
    log = logging.getLogger("grading")

    def run(nb: NotebookNode, extra: dict[str, Any] | None = None) -> NotebookNode:
        resources: dict[str, Any] = {"nbgrader": {
            "student": "sam", "assignment": "lesson", "notebook": "lesson",
            "db_url": f"sqlite:///{course / 'gradebook.db'}"}, **(extra or {})}  # fmt: skip
        for step in (RestoreGradingMetadata, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                     OverwriteCells, GuardSubmission, CheckCellMetadata):  # fmt: skip
            nb, resources = step(log=log).preprocess(nb, resources)
        return nb

    return run


def refused(nb: NotebookNode) -> dict[str, str]:
    from kernelmagic.course.grading.preprocessors import MARK

    return {c.metadata.nbgrader["grade_id"]: c.metadata[MARK]["not_graded"]
            for c in nb.cells if MARK in c.metadata}  # fmt: skip


def test_an_untouched_submission_runs_as_released_with_its_hidden_check(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture
) -> None:
    nb = grade(release(course))
    assert refused(nb) == {}
    assert "hidden_two = True" in cell(nb, "hidden-two").source
    assert caplog.records == []  # hidden checks are put back without a warning each


def test_an_exercise_turned_into_python_is_not_run_and_only_its_checks_score_zero(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture
) -> None:
    nb = release(course)
    cell(nb, "exercise-one").source = "open('/tmp/pwned', 'w').write('x')\n"
    nb = grade(nb)
    blank = cell(nb, "exercise-one").source
    assert blank.startswith("# kernelmagic did not run this cell") and "\n" not in blank
    assert ast.parse(blank).body == []  # a comment: nothing to run
    assert list(refused(nb)) == ["check-one"]
    assert "must begin with '%%kmodule one'" in refused(nb)["check-one"]
    assert [r.getMessage() for r in caplog.records] == [
        "sam: lesson: exercise one scores zero: the exercise cell must begin with "
        "'%%kmodule one', the submission's begins with \"open('/tmp/pwned', 'w').write('x')\""
    ]


@pytest.mark.parametrize(
    "first_line",
    ["%%kmodule two", '%%kmodule two --cflags "-fplugin=/tmp/evil.so"', "%%bash",
     '%%kmodule two --cflags "-DX" --load', "", '  \n%%kmodule two --cflags "-DX"'],
)  # fmt: skip
def test_an_exercise_keeps_its_magic_line_and_options(
    course: Path, grade: Callable[..., NotebookNode], first_line: str
) -> None:
    nb = release(course)
    exercise = cell(nb, "exercise-two")
    exercise.source = first_line + "\n" + exercise.source.split("\n", 1)[1]
    nb = grade(nb)
    assert list(refused(nb)) == ["hidden-two"]
    assert cell(nb, "exercise-two").source.startswith("# kernelmagic did not run this cell")


def test_cells_the_lesson_does_not_have_are_not_run(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture
) -> None:
    nb = release(course)
    nb.cells.insert(3, nbformat.v4.new_code_cell("import os; os.system('touch /tmp/x')"))
    stripped = cell(nb, "cell-7")
    stripped.metadata.pop("nbgrader")  # a read-only cell whose metadata was removed
    nb = grade(nb)
    assert "os.system" not in nbformat.writes(nb)
    assert refused(nb) == {}
    assert "2 cells that the lesson does not have were not run" in caplog.text


def test_edited_metadata_is_taken_from_the_gradebook(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture
) -> None:
    nb = release(course)
    last = cell(nb, "cell-7")
    last.metadata.nbgrader.update(grade=True, points=100, locked=False)
    last.source = "print('free points')"
    cell(nb, "check-one").metadata.nbgrader["schema_version"] = 99
    cell(nb, "cell-1").metadata["nbgrader"] = "not a dict"
    nb = grade(nb)
    graded = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
              for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}  # fmt: skip
    assert graded == {"check-one": 1, "hidden-two": 1}
    assert cell(nb, "cell-7").source == "print('the end')"
    assert "1 read-only cell had been edited" in caplog.text


def test_missing_cells_score_zero_with_a_line_each(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture
) -> None:
    nb = release(course)
    nb.cells = [c for c in nb.cells if c.metadata.nbgrader["grade_id"] not in
                ("exercise-two", "check-one")]  # fmt: skip
    nb = grade(nb)
    assert sorted(refused(nb)) == ["check-one", "hidden-two"]
    assert "check cell check-one is missing" in caplog.text
    assert "exercise two scores zero: the exercise cell '%%kmodule two --cflags \"-DX\"' is " \
           "missing" in caplog.text  # fmt: skip


def test_an_unreadable_notebook_is_one_line_and_zero(
    course: Path, grade: Callable[..., NotebookNode], caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:  # fmt: skip
    from kernelmagic.course.grading.exporter import SubmissionExporter

    broken = tmp_path / "lesson.ipynb"
    broken.write_text('{"cells": [ truncat')
    resources: dict[str, Any] = {"nbgrader": {"student": "sam", "notebook": "lesson"}}
    exporter = SubmissionExporter(log=logging.getLogger("grading"))
    with broken.open() as stream:
        text, resources = exporter.from_file(stream, resources)
    assert nbformat.reads(text, as_version=4).cells == []
    assert "not a notebook nbgrader can read" in caplog.text
    nb = grade(nbformat.reads(text, as_version=4), {"kernelmagic": resources["kernelmagic"]})
    assert sorted(refused(nb)) == ["check-one", "hidden-two"]
    assert all(c.source.startswith("# kernelmagic did not run") for c in nb.cells)
    assert len(caplog.records) == 1


def test_checks_score_all_or_nothing_with_the_reason(
    course: Path, grade: Callable[..., NotebookNode]
) -> None:
    from nbgrader.utils import determine_grade

    from kernelmagic.course.grading.preprocessors import ScoreChecks

    nb = release(course)
    cell(nb, "exercise-one").source = "%%bash\nrm -rf ~"
    nb = grade(nb)
    report = nbformat.v4.new_output("execute_result", data={"text/plain": "✓ 1 of 1 passed"})
    cell(nb, "hidden-two").outputs = [report]
    nb, _ = ScoreChecks().preprocess(nb, {})
    one, two = cell(nb, "check-one"), cell(nb, "hidden-two")
    assert [o.output_type for o in two.outputs] == ["display_data"]
    assert determine_grade(two) == (1.0, 1.0) and determine_grade(one) == (0, 1.0)
    assert one.outputs[0].ename == "NotGraded" and "%%kmodule one" in one.outputs[0].evalue


def test_feedback_leaves_out_the_text_of_hidden_checks(course: Path) -> None:
    from kernelmagic.course.grading.preprocessors import FeedbackView

    nb = nbformat.read(course / "source" / "lesson" / "lesson.ipynb", as_version=4)
    nb, _ = FeedbackView().preprocess(nb, {})
    assert "hidden_two" not in nbformat.writes(nb) and "int y = 2;" in nbformat.writes(nb)
