# SPDX-License-Identifier: MIT
"""nbgrader preprocessors for a course whose exercises are C for the lab VM.

Registered by name in the ``nbgrader_config.py`` that ``kernelmagic course nbgrader``
writes, each in the place of nbgrader's own list where it belongs:

- ``generate_assignment``: :class:`ClearCSolutions` instead of ``ClearSolutions`` (a
  ``%%kmodule`` cell gets its TODO skeleton, not a Python stub inside the C), and
  :class:`ClearInstructorOnly` after ``ClearHiddenTests``;
- ``autograde``, before anything runs: :class:`RestoreGradingMetadata` first (a
  submission's nbgrader metadata is taken from the gradebook, never from the file),
  :class:`GuardSubmission` after ``OverwriteCells`` (only the exercise cells are the
  student's; everything else a submission holds or lacks is decided here, with one log
  line each);
- ``autograde``, after ``Execute``: :class:`ScoreChecks` (the checks of a refused
  exercise score zero, with the reason as their error; a passed check is a plain pass);
- ``generate_feedback``: :class:`FeedbackView` (hidden checks and instructor-only text
  stay out of what goes back to the student; their results stay in).
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, NbGraderPreprocessor

from kernelmagic.course.grading.cells import C_MAGICS, SCHEMA_VERSION, exercise_of, magic_words
from kernelmagic.course.student import strip_instructor_only, strip_solutions
from kernelmagic.course.tags import INSTRUCTOR_ONLY, has_tag

__all__ = [
    "MARK",
    "ClearCSolutions",
    "ClearInstructorOnly",
    "FeedbackView",
    "GuardSubmission",
    "RestoreGradingMetadata",
    "ScoreChecks",
]

#: What a preprocessor returns.
Converted = tuple[NotebookNode, ResourcesDict]
#: The cell metadata key GuardSubmission leaves for ScoreChecks.
MARK = "kernelmagic_grading"
#: What an instructor-only code cell shows in the student version.
SET_UP = "# (set-up: the instructor's version runs here)"
#: The error a refused check shows in the graded notebook and the feedback.
NOT_GRADED = "NotGraded"


def _is_c_cell(cell: NotebookNode) -> bool:
    words = magic_words(cell.source) if cell.cell_type == "code" else []
    return bool(words) and words[0] in C_MAGICS


class ClearCSolutions(ClearSolutions):
    """nbgrader's ClearSolutions, but a C cell's solution becomes its TODO skeleton.

    The C cells go through :func:`kernelmagic.course.student.strip_solutions`, the code
    ``kernelmagic course student`` uses, so both hand out the same skeleton, one that
    compiles; other cells get nbgrader's own treatment.
    """

    def _replace_solution_region(self, cell: NotebookNode, language: str) -> bool:
        if not _is_c_cell(cell):
            return super()._replace_solution_region(cell, language)
        stripped = strip_solutions(cell.source)
        replaced = stripped != cell.source
        cell.source = stripped
        return replaced


def _strip_hidden(source: str) -> str:
    """``source`` without its hidden-test regions (nbgrader's own markers)."""
    cell = NotebookNode(cell_type="code", source=source, metadata={})
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


class ClearInstructorOnly(NbGraderPreprocessor):
    """The release without what only the instructor should read.

    Runs after ``SaveCells``, so the gradebook keeps every cell whole and ``autograde``
    puts a locked cell's full text back before running it. A markdown cell tagged
    ``instructor-only`` is dropped; a code cell so tagged keeps its place with a comment,
    so that grading still runs it where the lesson does; ``BEGIN/END INSTRUCTOR ONLY``
    regions go from every cell, and so does what the author's last run left in the
    metadata (timings, papermill's notes, widget state).
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Converted:
        kept = []
        for cell in nb.cells:
            if has_tag(cell, INSTRUCTOR_ONLY):
                if cell.cell_type != "code":
                    continue
                cell.source = SET_UP
            cell.source = strip_instructor_only(cell.source)
            cell.metadata.pop("execution", None)
            cell.metadata.pop("papermill", None)
            kept.append(cell)
        nb.cells = kept
        nb.metadata.pop("widgets", None)
        nb.metadata.pop("papermill", None)
        return nb, resources


class FeedbackView(NbGraderPreprocessor):
    """Feedback shows each check's result, not the text of hidden checks or instructor notes.

    Only the lesson's own (locked) cells are rewritten: a student's exercise cell goes
    back as it was, whatever markers it holds.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Converted:
        nb.cells = [c for c in nb.cells if c.cell_type == "code" or not has_tag(c, INSTRUCTOR_ONLY)]
        for cell in nb.cells:
            if not utils.is_locked(cell):
                continue
            if has_tag(cell, INSTRUCTOR_ONLY):
                cell.source = SET_UP
            cell.source = strip_instructor_only(_strip_hidden(cell.source))
        return nb, resources


class RestoreGradingMetadata(NbGraderPreprocessor):
    """A submission's nbgrader metadata, rebuilt from the gradebook before anything reads it.

    A student can edit a notebook's JSON: a read-only cell made a test cell worth 100
    points, a schema version nbgrader refuses (which stops the whole run, for every
    student), metadata that is not even a dict. Only the ``grade_id`` is read, to match
    a cell with the source's; the rest comes from the gradebook. A cell whose id the
    source does not have loses its nbgrader metadata, and is then a cell the student
    added (see :class:`GuardSubmission`).

    The text of each read-only cell is put back here too (``OverwriteCells`` would do it,
    with a warning per cell and student for every hidden check): one line says how many
    cells a submission had edited, beyond what the release itself left out.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Converted:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            sources = {c.name: c for c in source_nb.source_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            points = {c.name: c.max_score for c in source_nb.grade_cells}
            edited = 0
            for cell in nb.cells:
                cell.metadata.pop(MARK, None)  # only GuardSubmission sets it
                meta = cell.metadata.pop("nbgrader", None)
                grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
                source = sources.get(grade_id) if isinstance(grade_id, str) else None
                if source is None:
                    continue
                restored: dict[str, Any] = {
                    "grade": grade_id in points, "grade_id": grade_id, "locked": source.locked,
                    "solution": grade_id in solutions, "schema_version": SCHEMA_VERSION,
                    "checksum": source.checksum, "cell_type": source.cell_type,
                }  # fmt: skip
                if grade_id in points:
                    restored["points"] = points[grade_id]
                cell.metadata["nbgrader"] = restored
                same_type = cell.cell_type == source.cell_type  # else OverwriteCells converts
                if source.locked and same_type and cell.source != source.source:
                    edited += cell.source not in _released(source.source)
                    cell.source = source.source
        if edited:
            self.log.warning(
                "%s: %d read-only cell%s had been edited; the lesson's text was put back",
                f"{info['student']}: {info['notebook']}", edited, "" if edited == 1 else "s",
            )  # fmt: skip
        return nb, resources


def _released(source: str) -> set[str]:
    """What the student version of a read-only cell may hold: the release's own changes."""
    try:
        return {strip_instructor_only(_strip_hidden(source)), SET_UP}
    except (RuntimeError, ValueError):  # unpaired markers: the release failed on them
        return {SET_UP}


def _blank(cell: NotebookNode, reason: str) -> None:
    """Leave the cell in place with nothing to run: a comment that says why.

    The reason may quote a submission; it is kept on one line (``splitlines`` knows every
    line break Python and IPython do) and never ends in ``?``, IPython's help syntax.
    """
    words = " ".join(" ".join(reason.splitlines()).split()).rstrip("?")
    cell.source = f"# kernelmagic did not run this cell: {words}"
    cell.outputs = []
    cell.execution_count = None


class GuardSubmission(NbGraderPreprocessor):
    """Before a submission runs: only its exercise cells are the student's, and still C.

    By the time this runs, nbgrader has put the lesson's text back into every locked cell
    of the submission (``OverwriteCells``). What is left is decided here, against the
    gradebook's copy of the source:

    - an exercise cell must still begin with the source's own magic line (the same
      ``%%kmodule NAME`` and options): otherwise, or when it is missing, the exercise
      is refused: the cell is not run, and its checks score zero;
    - a code cell the source does not have (added by the student, or one whose nbgrader
      metadata was removed or duplicated) is not run;
    - a check cell the submission lacks scores zero;
    - a submission that was not a readable notebook scores zero in every check.

    Each decision is one line in nbgrader's log; the rest of the submission is graded.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Converted:
        info = resources["nbgrader"]
        where = f"{info['student']}: {info['notebook']}"
        unreadable = resources.get("kernelmagic", {}).get("unreadable")
        with Gradebook(info["db_url"]) as gb:
            source_nb = gb.find_notebook(info["notebook"], info["assignment"])
            sources = {c.name: c.source for c in source_nb.source_cells}
            checksums = {c.name: c.checksum for c in source_nb.source_cells}
            solutions = {c.name for c in source_nb.solution_cells}
            checks = {c.name: c.max_score for c in source_nb.grade_cells}

        nb.metadata.pop(MARK, None)
        refused: dict[str, str] = {}
        present: set[str] = set()
        added = 0
        for cell in nb.cells:
            cell.metadata.pop(MARK, None)  # only this preprocessor sets it
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in sources:
                present.add(grade_id)
            if cell.cell_type != "code":
                continue
            if grade_id not in sources:
                added += 1
                _blank(cell, "the lesson has no such cell; only the exercise cells are yours")
            elif grade_id in solutions:
                want = magic_words(sources[grade_id])
                got = magic_words(cell.source)
                if got != want:
                    first = cell.source.split("\n", 1)[0].strip()[:60] or "(an empty line)"
                    reason = (f"the exercise cell must begin with {' '.join(want)!r}, the "
                              f"submission's begins with {first!r}")  # fmt: skip
                    refused.setdefault(exercise_of(grade_id) or grade_id, reason)
                    _blank(cell, reason)
        for grade_id in sorted(solutions - present):
            first = sources[grade_id].split("\n", 1)[0].strip()
            reason = f"the exercise cell {first!r} is missing"
            refused.setdefault(exercise_of(grade_id) or grade_id, reason)

        if not unreadable:
            for exercise, reason in refused.items():
                self.log.warning("%s: exercise %s scores zero: %s", where, exercise, reason)
            if added:
                self.log.warning(
                    "%s: %d cell%s that the lesson does not have were not run", where, added,
                    "" if added == 1 else "s",
                )  # fmt: skip

        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id not in checks or cell.cell_type != "code":
                continue
            exercise = exercise_of(grade_id)
            reason = unreadable or refused.get(exercise or "")
            if reason:
                self._refuse(cell, f"exercise {exercise}: {reason}" if exercise else reason)
        for grade_id in sorted(set(checks) - present):
            if not unreadable:
                self.log.warning("%s: check cell %s is missing: it scores zero", where, grade_id)
            cell = new_code_cell(metadata={"nbgrader": {
                "grade": True, "grade_id": grade_id, "locked": True, "points": checks[grade_id],
                "solution": False, "schema_version": SCHEMA_VERSION,
                "checksum": checksums[grade_id],
            }})  # fmt: skip
            self._refuse(cell, unreadable or f"the check cell {grade_id} is missing")
            nb.cells.append(cell)
        return nb, resources

    @staticmethod
    def _refuse(cell: NotebookNode, reason: str) -> None:
        _blank(cell, reason)
        cell.metadata[MARK] = {"not_graded": reason}


class ScoreChecks(NbGraderPreprocessor):
    """After Execute: a check scores all its points or none, and says why in the notebook.

    A check GuardSubmission refused gets an error carrying the reason (nbgrader gives a
    test cell no points when its output holds an error), so the gradebook, the
    formgrader and the feedback all show it. A check cell that passed returns its report
    as the cell's value, which nbgrader would try to read as a partial score (and log a
    warning for each cell of each student when it is not a number): the report is
    shown as a display instead, so a passed check is simply a passed test cell.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> Converted:
        mark: Any = cell.metadata.pop(MARK, None)
        if not utils.is_grade(cell) or cell.cell_type != "code":
            return cell, resources
        if isinstance(mark, dict) and mark.get("not_graded"):
            reason = str(mark["not_graded"])
            cell.outputs = [new_output(
                "error", ename=NOT_GRADED, evalue=reason, traceback=[f"{NOT_GRADED}: {reason}"]
            )]  # fmt: skip
            return cell, resources
        for number, output in enumerate(cell.outputs):
            if output.output_type == "execute_result" and not _is_number(output):
                cell.outputs[number] = new_output(
                    "display_data", data=output.get("data", {}), metadata=output.get("metadata", {})
                )
        return cell, resources


def _is_number(output: NotebookNode) -> bool:
    """Whether nbgrader would read this result as a partial score."""
    text = output.get("data", {}).get("text/plain", "")
    try:
        float("".join(text) if isinstance(text, list) else text)
    except ValueError:
        return False
    return True
