# SPDX-License-Identifier: MIT
"""``kernelmagic course student`` and ``course new`` as a new instructor meets them.

Student versions leave out what only the instructor should see (cells tagged
``instructor-only``, ``BEGIN/END INSTRUCTOR ONLY`` regions) and the saved widget state;
any notebook name, a single file and ``str`` paths work; finding nothing is an error
that says where it looked. ``course new`` writes a lesson that passes the repository's
own lesson tests (they are run on it here) and whose student version builds.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kernelmagic.cli.app import EXIT_USAGE, main
from kernelmagic.course.lesson import kmodule_cells
from kernelmagic.course.student import (
    make_student_version,
    make_student_versions,
    strip_instructor_only,
    write_student_versions,
)
from kernelmagic.course.template import KERNEL_DISPLAY_NAME, KERNEL_NAME, new_lesson
from kernelmagic.errors import SolutionMarkerError, UsageError

ROOT = Path(__file__).resolve().parents[2]


def _lesson(path: Path) -> Path:
    cells = [
        new_markdown_cell("# A lesson\n\n**In this lesson you will** learn"),
        new_markdown_cell(
            "The next cell checks the parameters, so that a batch run...",
            metadata={"tags": ["instructor-only"]},
        ),
        new_code_cell(
            "%%kmodule hello\nint x;\n/* BEGIN SOLUTION */\nint y;\n/* END SOLUTION */",
            outputs=[nbformat.v4.new_output("stream", text="built\n")],
            execution_count=3,
        ),
        new_code_cell(
            'hint=("look at init",\n'
            "      # BEGIN INSTRUCTOR ONLY\n"
            "      'pr_info(\"the answer\\\\n\");',\n"
            "      # END INSTRUCTOR ONLY\n"
            "      )"
        ),
        new_markdown_cell("Hint: the answer is `pr_info`.", metadata={"tags": ["instructor-only"]}),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {"x": 1}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_instructor_only_cells_regions_and_widget_state_are_left_out(tmp_path: Path) -> None:
    src = _lesson(tmp_path / "lessons" / "my_lesson.ipynb")
    dest = make_student_version(str(src), str(tmp_path / "out" / "x.ipynb"))  # str paths
    nb = nbformat.read(dest, as_version=4)
    text = dest.read_text()
    assert "batch run" not in text and "the answer" not in text
    assert "widgets" not in nb.metadata
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    code = nb.cells[1]
    assert code.outputs == [] and code.execution_count is None and "int y" not in code.source
    assert nb.cells[2].source == 'hint=("look at init",\n      )'
    compile(nb.cells[2].source, "hint", "exec")  # still Python


def test_unbalanced_instructor_markers_are_refused() -> None:
    with pytest.raises(SolutionMarkerError, match="without END"):
        strip_instructor_only("# BEGIN INSTRUCTOR ONLY\nx")
    with pytest.raises(SolutionMarkerError, match="without BEGIN"):
        strip_instructor_only("x\n<!-- END INSTRUCTOR ONLY -->")
    assert (
        strip_instructor_only("a\n/* BEGIN INSTRUCTOR ONLY */\nb\n/* END INSTRUCTOR ONLY */") == "a"
    )


def test_any_name_a_single_file_and_the_refusal_suggests_a_folder_outside(tmp_path: Path) -> None:
    lessons = tmp_path / "course"
    _lesson(lessons / "intro.ipynb")
    _lesson(lessons / "Week-2 timers.ipynb")
    written = make_student_versions(str(lessons), str(tmp_path / "handout"))
    assert sorted(p.name for p in written) == ["Week-2 timers.ipynb", "intro.ipynb"]
    one = make_student_versions(lessons / "intro.ipynb", tmp_path / "one")
    assert [p.name for p in one] == ["intro.ipynb"]
    with pytest.raises(UsageError) as info:
        make_student_versions(lessons, lessons / "build" / "student")
    outside = tmp_path / "build" / "student"
    assert f"e.g. {outside}" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="holds no notebook"):
        make_student_versions(empty, tmp_path / "x")


def test_run_outside_the_repository_it_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["course", "student", "build/student"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--notebooks defaults to ./notebooks" in err and str(tmp_path / "notebooks") in err
    assert not (tmp_path / "build").exists()
    with pytest.raises(UsageError, match="defaults to"):
        write_student_versions(tmp_path / "out")


def test_the_command_writes_the_repositorys_lessons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["course", "student", str(tmp_path / "student")]) == 0
    lessons = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert f"wrote {len(lessons)} student notebooks" in capsys.readouterr().out
    for path in (tmp_path / "student").glob("*.ipynb"):
        assert "widget-state" not in path.read_text()


# -- course new -----------------------------------------------------------------------------


def _lesson_tests() -> object:
    """The repository's lesson tests, to run on the template's lesson."""
    spec = importlib.util.spec_from_file_location(
        "lesson_tests", ROOT / "tests/course/test_lessons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_new_lesson_passes_the_lesson_tests(tmp_path: Path) -> None:
    notebooks, modules = tmp_path / "notebooks", tmp_path / "modules"
    notebooks.mkdir()
    modules.mkdir()
    written = new_lesson("18_timers", notebooks)
    lesson = notebooks / "18_timers.ipynb"
    assert written == [lesson, modules / "timers.c"]
    tests = _lesson_tests()
    for name in ("test_lesson_structure", "test_instructor_plumbing_is_folded",
                 "test_check_cells_report_every_check", "test_errors_are_shown_once",
                 "test_demos_load_only_complete_modules"):  # fmt: skip
        getattr(tests, name)(lesson)
    [(name, body, _cell)] = list(kmodule_cells(lesson))
    assert name == "timers" and body.rstrip("\n") == (modules / "timers.c").read_text().rstrip("\n")
    with pytest.raises(UsageError, match="exists already"):
        new_lesson("18_timers", notebooks)


def test_the_new_lessons_student_version_hides_the_answer(tmp_path: Path) -> None:
    new_lesson("19_my_topic", tmp_path, module="kmtopic")
    student = make_student_version(tmp_path / "19_my_topic.ipynb", tmp_path / "s" / "x.ipynb")
    text = student.read_text()
    assert 'pr_info(\\"kmtopic: hello, %s' not in text  # the solution and the last hint level
    assert "/* TODO: log" in text and "instructor-only" not in text


def test_new_refuses_a_bad_name_and_matches_the_kernelspec(tmp_path: Path) -> None:
    from kernelmagic.notebook.kernelspec import DISPLAY_NAME, NAME

    assert (KERNEL_NAME, KERNEL_DISPLAY_NAME) == (NAME, DISPLAY_NAME)
    with pytest.raises(UsageError, match="not a lesson name"):
        new_lesson("../escape", tmp_path)
    with pytest.raises(UsageError, match="not a valid module name"):
        new_lesson("20_x", tmp_path, module="9lives")


def test_the_command_says_what_it_wrote(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "kernelmagic.cli", "course", "new", "21_irqs", "--dir", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "wrote 21_irqs.ipynb"


@pytest.mark.integration
def test_the_new_lessons_module_builds_as_solution_and_as_skeleton(
    tmp_path: Path, bundle: object
) -> None:
    from kernelmagic.kbuild.builder import build_module

    new_lesson("18_timers", tmp_path, module="kmt_template")
    student = make_student_version(tmp_path / "18_timers.ipynb", tmp_path / "s" / "18.ipynb")
    for notebook in (tmp_path / "18_timers.ipynb", student):
        [(name, body, _cell)] = list(kmodule_cells(notebook))
        result = build_module(name, {f"{name}.c": body})
        assert not result.warnings, [str(w) for w in result.warnings]
