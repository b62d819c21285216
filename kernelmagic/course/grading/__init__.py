# SPDX-License-Identifier: MIT
"""Grading the lessons with nbgrader: the course folder, and what nbgrader lacks for C.

nbgrader hands out assignments, collects them, runs them, keeps the gradebook and writes
feedback. What it lacks for this course is here:

- ``cells``: which cell of a lesson is an exercise, a check or read-only text, as
  nbgrader's cell metadata, generated from the lessons (``notebooks/`` stays the truth);
- ``coursedir``: ``kernelmagic course nbgrader DIR`` writes ``nbgrader_config.py`` and
  ``source/NN_topic/NN_topic.ipynb`` for every lesson;
- ``preprocessors``: the student version of a ``%%kmodule`` cell is its TODO skeleton
  (the code ``kernelmagic course student`` uses), and a submission's cells are checked
  before anything runs: only the exercise cells are the student's, each must still be
  the ``%%kmodule NAME`` cell it was, and what is refused scores zero with one log line;
- ``exporter``: a submission that is not a readable notebook becomes one log line and a
  zero, and the other submissions are still graded.

Only ``preprocessors`` and ``exporter`` import nbgrader; nbgrader imports them by name
from ``nbgrader_config.py``. Builds while grading run in the sandbox of
:mod:`kernelmagic.kbuild.sandbox`, which nbgrader's ``NBGRADER_EXECUTION=autograde``
turns on in the kernels it starts.
"""

from kernelmagic.course.grading.coursedir import write_course

__all__ = ["write_course"]
