# SPDX-License-Identifier: MIT
"""The command a course server starts for each learner, as the learner.

It runs before Jupyter does: the learner's home is closed to others (mode 0700), the lab's
files go to that home
(builds, saved VM states, and the VM's runtime folders through ``TMPDIR``), the lessons
they do not have yet are copied into ``~/kernelmagic-course`` (a later login never
overwrites their work, and a lesson added to the course appears), and then it becomes
``jupyterhub-singleuser`` with the arguments the spawner gave.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from kernelmagic import paths
from kernelmagic.hub.layout import LESSONS_FOLDER, HubLayout

__all__ = ["copy_new_lessons", "main", "private_folders"]

PREFIX_ENV = "KERNELMAGIC_HUB_PREFIX"


def private_folders() -> Path:
    """Make the lab's folder in the home, and its temporary folder, for this learner alone."""
    root = paths.home()
    tmp = root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for folder in (root, tmp):
        folder.chmod(0o700)
    return tmp


def copy_new_lessons(lessons: Path, dest: Path) -> list[str]:
    """Copy each lesson the learner does not have; return the names copied.

    Each copy is written beside its place and renamed into it, so a full disk never
    leaves half a lesson that a later login would take for the learner's own.
    """
    dest.mkdir(mode=0o700, exist_ok=True)
    copied = []
    for lesson in sorted(lessons.glob("*.ipynb")):
        target = dest / lesson.name
        if target.exists() or target.is_symlink():
            continue
        partial = dest / f".{lesson.name}.partial"
        shutil.copyfile(lesson, partial)
        partial.chmod(0o600)
        os.replace(partial, target)
        copied.append(lesson.name)
    return copied


def _prepare(layout: HubLayout, home: Path) -> list[str]:
    """Everything before Jupyter starts; a step that fails is said in one line, the server
    starts anyway (a learner without new lessons can still work)."""
    extra: list[str] = []
    steps = (
        ("close the home to others", lambda: home.chmod(0o700)),
        ("copy the lessons", lambda: copy_new_lessons(layout.lessons, home / LESSONS_FOLDER)),
        ("set up nbgrader", lambda: extra.extend(_grading(layout, home))),
    )
    for what, step in steps:
        try:
            step()
        except OSError as exc:
            print(f"kernelmagic: could not {what}: {exc}", file=sys.stderr, flush=True)
    return extra


def _grading(layout: HubLayout, home: Path) -> list[str]:
    from kernelmagic.hub.grading import prepare_learner

    settings = json.loads(layout.settings.read_text())
    user = os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER", "")
    return prepare_learner(
        home,
        instructor=user in settings.get("instructors", []),
        course_id=settings.get("course_id", "kernelmagic"),
        exchange=layout.exchange,
        lessons=layout.instructor_lessons,
    ) or []


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    prefix = Path(os.environ.get(PREFIX_ENV) or sys.prefix).resolve()
    if prefix.name == "venv":  # started without the hub's environment: find the install
        prefix = prefix.parent
    layout = HubLayout(prefix)
    os.umask(0o077)
    home = Path.home()
    if not home.is_dir() or home.stat().st_uid != os.getuid():
        sys.exit(f"kernelmagic: your home {home} is missing or not yours; ask the course's "
                 "administrator to create it (useradd -m)")  # fmt: skip
    os.environ["TMPDIR"] = str(private_folders())
    extra = _prepare(layout, home)
    singleuser = layout.bin("jupyterhub-singleuser")
    os.execv(singleuser, [str(singleuser), *args, *extra])


if __name__ == "__main__":
    main()
