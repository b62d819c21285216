# SPDX-License-Identifier: MIT
"""The exporter ``nbgrader autograde`` reads submissions with: a broken file is a zero.

nbgrader reads each submitted notebook before any preprocessor runs; a file that is not
a notebook (truncated JSON, an empty file, a PDF renamed ``.ipynb``) raises there, and
the student's row gets a traceback in the log and grades that wait for a human. Here
such a file becomes one line in the log and an empty notebook, which
:class:`~kernelmagic.course.grading.preprocessors.GuardSubmission` grades as zero in
every check. Registered as ``c.Autograde.exporter_class`` in ``nbgrader_config.py``.
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter

__all__ = ["SubmissionExporter"]


class SubmissionExporter(NotebookExporter):
    """nbconvert's NotebookExporter, for which an unreadable notebook is an empty one."""

    def from_file(
        self, file_stream: Any, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        resources = resources if resources is not None else {}
        try:
            nb = nbformat.read(file_stream, as_version=4)
            nbformat.validate(nb)
        except Exception as exc:  # whatever the file held: JSON, encoding, schema, version
            reason = _reason(exc)
            info = resources.get("nbgrader", {})
            who = f"{info.get('student', '?')}: {info.get('notebook', '?')}"
            self.log.error("%s: not a notebook nbgrader can read (%s): every check scores zero",
                           who, reason)  # fmt: skip
            resources.setdefault("kernelmagic", {})["unreadable"] = (
                f"the submitted file is not a notebook that can be read ({reason})"
            )
            nb = nbformat.v4.new_notebook()
        return self.from_notebook_node(nb, resources=resources, **kw)


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, short enough for one log line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= 100 else first[:97] + "..."
