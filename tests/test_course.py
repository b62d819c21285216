# SPDX-License-Identifier: MIT
"""The course's artifacts agree with each other, without a VM.

- every ``%%kmodule`` cell of a lesson is, below its magic line, exactly a file of
  ``modules/`` (solutions filled in), so the tested reference C is what learners run;
- every lesson has objectives, a ``parameters`` cell, an exercise with a solution region,
  a check cell and a summary, and names the course kernel;
- student versions drop solutions and outputs, and land outside ``notebooks/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from kernelmagic.course import (
    SolutionMarkerError,
    has_solution,
    kmodule_cells,
    make_student_versions,
    strip_solutions,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MODULES = ROOT / "modules"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _reference(name: str) -> Path | None:
    for candidate in (MODULES / f"{name}.c", MODULES / "faults" / f"{name}.c"):
        if candidate.is_file():
            return candidate
    return None


def test_ten_lessons() -> None:
    assert [p.name[:2] for p in LESSONS] == [f"{i:02d}" for i in range(10)]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_kmodule_cells_match_modules(lesson: Path) -> None:
    cells = list(kmodule_cells(lesson))
    assert cells, f"{lesson.name} has no %%kmodule cell"
    for name, body, _cell in cells:
        ref = _reference(name)
        assert ref is not None, f"{lesson.name}: %%kmodule {name} has no modules/{name}.c"
        assert body.rstrip("\n") == ref.read_text().rstrip("\n"), (
            f"{lesson.name}: the %%kmodule {name} cell differs from {ref.relative_to(ROOT)}"
        )


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_structure(lesson: Path) -> None:
    nb = nbformat.read(lesson, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "kernelmagic"
    assert nb.metadata["kernelspec"]["display_name"] == "Kernel Lab (Python 3)"
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "In this lesson you will" in markdown[0]
    assert markdown[-1].startswith("## Summary")
    assert any("Exercise" in m for m in markdown)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert any(has_solution(c.source) for c in code), "no solution region"
    assert any("kernelmagic import check" in c.source for c in code), "no check cell"


def test_every_reference_module_is_used() -> None:
    used = {name for lesson in LESSONS for name, _b, _c in kmodule_cells(lesson)}
    files = {p.stem for p in MODULES.glob("*.c")} | {p.stem for p in MODULES.glob("faults/*.c")}
    assert files <= used, f"modules no lesson uses: {sorted(files - used)}"


def test_strip_solutions_keeps_todo_and_removes_region() -> None:
    src = (
        "int f(void)\n{\n"
        "\t/* TODO: return 42 */\n\t/* BEGIN SOLUTION */\n\treturn 42;\n\t/* END SOLUTION */\n}\n"
    )
    assert strip_solutions(src) == "int f(void)\n{\n\t/* TODO: return 42 */\n}\n"


def test_strip_solutions_inserts_todo_when_missing() -> None:
    src = "x = 1\n    # BEGIN SOLUTION\n    y = 2\n    # END SOLUTION\n"
    assert strip_solutions(src) == "x = 1\n    # TODO: your code here\n"
    c_src = "a;\n  /* BEGIN SOLUTION */\n  b;\n  /* END SOLUTION */"
    assert strip_solutions(c_src) == "a;\n  /* TODO: your code here */"


def test_strip_solutions_multiline_todo_comment() -> None:
    src = (
        "\t/* TODO: first line,\n\t * second line */\n"
        "\t/* BEGIN SOLUTION */\n\tx;\n\t/* END SOLUTION */"
    )
    assert strip_solutions(src) == "\t/* TODO: first line,\n\t * second line */"


@pytest.mark.parametrize(
    "src",
    ["/* BEGIN SOLUTION */\nx;", "x;\n/* END SOLUTION */", "# BEGIN SOLUTION\n# BEGIN SOLUTION"],
)
def test_strip_solutions_rejects_unbalanced_markers(src: str) -> None:
    with pytest.raises(SolutionMarkerError):
        strip_solutions(src)


def test_student_versions(tmp_path: Path) -> None:
    out = tmp_path / "student"
    written = make_student_versions(NOTEBOOKS, out)
    assert [p.name for p in written] == [p.name for p in LESSONS]
    for path in written:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        nb = json.loads(text)
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
    student = nbformat.read(out / "02_hello_kernel.ipynb", as_version=4)
    greet = next(c.source for c in student.cells if c.source.startswith("%%kmodule greet"))
    assert "greet_init" not in greet
    assert "/* TODO: MODULE_AUTHOR, MODULE_DESCRIPTION and MODULE_VERSION */" in greet


def test_student_versions_refuse_notebooks_dir() -> None:
    with pytest.raises(ValueError):
        make_student_versions(NOTEBOOKS, NOTEBOOKS / "student")


def test_user_program_matches_modules_user() -> None:
    nb = nbformat.read(NOTEBOOKS / "09_char_device.ipynb", as_version=4)
    cell = next(c.source for c in nb.cells if "CTL_SOURCE = r'''" in c.source)
    embedded = cell.split("CTL_SOURCE = r'''\n", 1)[1].split("'''", 1)[0]
    assert embedded == (MODULES / "user" / "kmchar_ctl.c").read_text()
