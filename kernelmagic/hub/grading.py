# SPDX-License-Identifier: MIT
"""nbgrader on the course server: one shared exchange, a formgrader for each instructor.

Every learner's Jupyter server loads nbgrader's server extensions from the hub's
environment. Three things make them work across accounts:

* the install writes :func:`system_nbgrader_config` into the environment's
  ``etc/jupyter``: every server lists, fetches and submits through ``PREFIX/exchange``
  (mode 1777) under one course id;
* :func:`prepare_learner`, run by the learner launcher as the learner before
  ``jupyterhub-singleuser`` starts, gives an instructor ``~/course`` (the nbgrader course
  made from the lessons, with the shared exchange) and points their formgrader at it;
  a student's server gets neither formgrader nor course list, and their lab hides the
  instructor's panels, so a student sees the Assignments tab only;
* :class:`NbgraderClient` drives the same HTTP endpoints the lab's nbgrader panels call,
  for the tests and for scripting a class (release to all, collect from all).

Hiding panels is about a clear interface, not security: a student's server is theirs,
and what keeps grades private is the instructor's home (0700) holding the gradebook.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from kernelmagic.course.grading.coursedir import CONFIG_NAME, write_course
from kernelmagic.errors import KernelMagicError
from kernelmagic.files import write_atomically

__all__ = [
    "COURSE_FOLDER",
    "INSTRUCTOR_LAB_PLUGINS",
    "INSTRUCTOR_SERVER_EXTENSIONS",
    "GradingRequestError",
    "NbgraderClient",
    "add_new_assignments",
    "prepare_learner",
    "system_nbgrader_config",
]

log = logging.getLogger(__name__)

#: The instructor's nbgrader course, in their home (inside the server's root, which
#: nbgrader's formgrader requires).
COURSE_FOLDER = "course"
#: Server extensions only an instructor needs: grading, and the list of courses one grades.
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)
#: JupyterLab plugins of nbgrader 0.9 only an instructor needs (``jupyter labextension
#: disable`` names, as nbgrader's installation guide lists them).
INSTRUCTOR_LAB_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)


def system_nbgrader_config(exchange: Path, course_id: str) -> str:
    """The ``nbgrader_config.py`` for the hub environment's ``etc/jupyter``.

    Every server reads it (a student's has no other): the exchange and the course id are
    what the Assignments tab needs to list, fetch and submit. An instructor's course
    folder repeats both, so their command-line nbgrader agrees.
    """
    return f"""\
# SPDX-License-Identifier: MIT
# nbgrader's settings for every learner's Jupyter server on this course server, written
# by `kernelmagic hub install`. The Assignments tab lists, fetches and submits through
# the shared exchange below (mode 1777); instructors release to it and collect from it.
c = get_config()  # noqa: F821 (traitlets defines it)
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {str(exchange)!r}
"""


def prepare_learner(
    home: Path,
    *,
    instructor: bool,
    course_id: str,
    exchange: Path,
    lessons: Path | None = None,
) -> list[str]:
    """Set up nbgrader in a learner's home; return extra ``jupyterhub-singleuser`` args.

    Runs as the learner at every server start, so it is idempotent and never overwrites
    their files. ``lessons`` is the install's full lessons (default: ``instructor-lessons``
    beside ``exchange``, i.e. ``PREFIX/instructor-lessons``). A file it cannot write is logged, not
    raised: the learner's lab must start anyway.
    """
    try:
        _hide_lab_plugins(home, hide=not instructor)
    except OSError as e:
        log.warning("nbgrader's instructor panels left as they were: %s", e)
    if not instructor:
        return [
            f"--ServerApp.jpserver_extensions={ext}=False" for ext in INSTRUCTOR_SERVER_EXTENSIONS
        ]
    course = home / COURSE_FOLDER
    try:
        added = add_new_assignments(
            course, lessons or exchange.parent / "instructor-lessons", course_id=course_id,
            exchange=exchange,
        )
        _point_formgrader_at(home, course)
    except (OSError, KernelMagicError) as e:
        log.warning("the nbgrader course in %s is not ready: %s", course, e)
    else:
        if added:
            log.info("nbgrader course %s: added %s", course, ", ".join(added))
    return []


def add_new_assignments(
    course: Path, lessons: Path, *, course_id: str, exchange: Path
) -> list[str]:
    """Add to ``course`` each lesson it has no source folder for; return their names.

    The first call writes the whole course and its config; later ones only bring in
    lessons added to the install, so an instructor's edits to ``source/`` stay.
    """
    added = []
    for lesson in sorted(lessons.glob("*.ipynb")):
        if (course / "source" / lesson.stem).exists():
            continue
        write_course(course, lesson, course_id=course_id, exchange=exchange)
        added.append(lesson.stem)
    return added


def _point_formgrader_at(home: Path, course: Path) -> None:
    """Write ``~/.jupyter/nbgrader_config.py`` naming the course, unless one exists.

    The formgrader takes its course from ``CourseDirectory.root``, which defaults to the
    server's working directory (the home); nbgrader reads this file from the user's
    Jupyter config folder, and so do the instructor's ``nbgrader`` commands anywhere.
    """
    config = home / ".jupyter" / CONFIG_NAME
    if config.exists():
        return
    config.parent.mkdir(mode=0o700, exist_ok=True)
    write_atomically(
        config,
        (
            "# Written by the course server at your first login: your nbgrader course folder,\n"
            "# for the formgrader and for nbgrader commands run anywhere. Edit it freely.\n"
            "c = get_config()  # noqa: F821 (traitlets defines it)\n"
            f"c.CourseDirectory.root = {str(course)!r}\n"
        ),
        mode=0o600,
    )


def _hide_lab_plugins(home: Path, *, hide: bool) -> None:
    """Disable (or re-enable) the instructor's lab plugins in the learner's lab config.

    This is what ``jupyter labextension disable --level=user`` writes: the entries of
    ``~/.jupyter/labconfig/page_config.json`` for nbgrader's instructor plugins, all
    other entries left alone. Done at every start, so a role change takes effect.
    """
    path = home / ".jupyter" / "labconfig" / "page_config.json"
    try:
        page = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as e:
        log.warning("left %s alone (%s): nbgrader's panels are not hidden", path, e)
        return
    if not isinstance(page, dict):
        log.warning("left %s alone: not a JSON object", path)
        return
    disabled = page.get("disabledExtensions")
    if isinstance(disabled, list):  # the older list form
        disabled = {name: True for name in disabled}
    disabled = dict(disabled) if isinstance(disabled, dict) else {}
    for plugin in INSTRUCTOR_LAB_PLUGINS:
        if hide:
            disabled[plugin] = True
        else:
            disabled.pop(plugin, None)
    if disabled == page.get("disabledExtensions", {}):
        return
    page["disabledExtensions"] = disabled
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, json.dumps(page, indent=2) + "\n", mode=0o600)


# -- the HTTP side --------------------------------------------------------------------------


class GradingRequestError(KernelMagicError):
    """An nbgrader endpoint refused a request or reported a failed step."""


class Response(Protocol):
    status_code: int
    text: str

    def json(self) -> Any: ...


class Session(Protocol):
    """What :class:`NbgraderClient` needs of a ``requests.Session``."""

    cookies: Any

    def get(self, url: str, **kwargs: Any) -> Response: ...

    def post(self, url: str, **kwargs: Any) -> Response: ...


class NbgraderClient:
    """nbgrader 0.9's HTTP endpoints on one Jupyter server, as its lab panels call them.

    ``server_url`` is the server's root (``http://127.0.0.1:8888/`` or, through the
    hub, ``http://hub/user/NAME/``); ``session`` carries its authentication: an
    ``Authorization: token ...`` header (no XSRF check then), or the browser's cookies
    after logging in, in which case Jupyter's ``_xsrf`` cookie is echoed in
    ``X-XSRFToken`` as the lab does.
    """

    def __init__(self, server_url: str, session: Session, *, timeout: float = 120) -> None:
        self.base = server_url.rstrip("/") + "/"
        self.session = session
        self.timeout = timeout

    # -- the instructor's formgrader: formgrader/api/... ---------------------------------

    def formgrader_running(self) -> bool:
        """``GET formgrader/api/status``: whether this server has a formgrader."""
        r = self.session.get(
            self.base + "formgrader/api/status", headers=self._headers(), timeout=self.timeout
        )
        return r.status_code == 200 and r.json().get("status") is True

    def assignments(self) -> list[dict[str, Any]]:
        """``GET formgrader/api/assignments``: the gradebook's assignments and their state."""
        return self._get("formgrader/api/assignments")

    def generate(self, assignment: str) -> str:
        """``POST formgrader/api/assignment/ID/assign``: the student version (its log)."""
        return self._step("generate", f"formgrader/api/assignment/{assignment}/assign")

    def release(self, assignment: str) -> str:
        """``POST formgrader/api/assignment/ID/release``: copy it to the exchange."""
        return self._step("release", f"formgrader/api/assignment/{assignment}/release")

    def collect(self, assignment: str) -> str:
        """``POST formgrader/api/assignment/ID/collect``: every submission, to submitted/."""
        return self._step("collect", f"formgrader/api/assignment/{assignment}/collect")

    def autograde(self, assignment: str, student: str) -> str:
        """``POST formgrader/api/submission/ID/STUDENT/autograde``."""
        path = f"formgrader/api/submission/{assignment}/{student}/autograde"
        return self._step("autograde", path)

    def submissions(self, assignment: str) -> list[dict[str, Any]]:
        """``GET formgrader/api/submissions/ID``: one entry per student, graded or not."""
        return self._get(f"formgrader/api/submissions/{assignment}")

    # -- the Assignments tab: assignments?course_id=..., assignments/fetch|submit ----------

    def listing(self, course_id: str) -> list[dict[str, Any]]:
        """``GET assignments?course_id=C``: released, fetched and submitted assignments."""
        return self._value(self._get("assignments", course_id=course_id), "list")

    def fetch(self, course_id: str, assignment: str) -> list[dict[str, Any]]:
        """``POST assignments/fetch``: copy a released assignment into the home.

        nbgrader answers with the new listing even when the fetch failed, so the
        assignment's status in it is checked.
        """
        listing = self._action("fetch", course_id, assignment)
        fetched = [a for a in listing if a["assignment_id"] == assignment]
        if not any(a["status"] == "fetched" for a in fetched):
            raise GradingRequestError(f"{assignment} was not fetched (the server's log says why)")
        return listing

    def submit(self, course_id: str, assignment: str) -> list[dict[str, Any]]:
        """``POST assignments/submit``: hand in the fetched copy."""
        return self._action("submit", course_id, assignment)

    # -- plumbing -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        """The XSRF header a cookie-authenticated POST needs, from this server's cookie.

        Behind the hub there are several ``_xsrf`` cookies (the hub's, each server's):
        the one whose path is the longest prefix of this server's path is its own.
        """
        path = urlsplit(self.base).path
        mine = [
            c for c in self.session.cookies or () if c.name == "_xsrf" and path.startswith(c.path)
        ]
        best = max(mine, key=lambda c: len(c.path), default=None)
        return {"X-XSRFToken": best.value} if best is not None else {}

    def _check(self, what: str, r: Response) -> Any:
        if r.status_code != 200:
            raise GradingRequestError(f"{what}: HTTP {r.status_code}: {r.text[:300]}")
        return r.json()

    def _get(self, path: str, **params: str) -> Any:
        r = self.session.get(
            self.base + path, params=params, headers=self._headers(), timeout=self.timeout
        )
        return self._check(f"GET {path}", r)

    def _post(self, path: str, data: Mapping[str, str] | None = None) -> Any:
        r = self.session.post(
            self.base + path, data=data or {}, headers=self._headers(), timeout=self.timeout
        )
        return self._check(f"POST {path}", r)

    def _step(self, what: str, path: str) -> str:
        """A formgrader step answers ``{"success", "log", "error"}``; a failure raises."""
        out = self._post(path)
        if not out or not out.get("success"):
            detail = (out or {}).get("error") or (out or {}).get("log") or "no detail"
            last = detail.strip().splitlines()[-1]
            raise GradingRequestError(f"{what} failed: {last}\n{detail}")
        return out.get("log", "")

    def _value(self, out: Any, what: str) -> Any:
        if isinstance(out, dict) and not out.get("success", False):
            raise GradingRequestError(f"{what} failed: {out.get('value', out)}")
        return out["value"] if isinstance(out, dict) else out

    def _action(self, action: str, course_id: str, assignment: str) -> list[dict[str, Any]]:
        out = self._post(
            f"assignments/{action}", {"course_id": course_id, "assignment_id": assignment}
        )
        return self._value(out, action)
