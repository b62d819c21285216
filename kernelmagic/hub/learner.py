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
    """Copy each lesson the learner does not have; return the names copied."""
    dest.mkdir(mode=0o700, exist_ok=True)
    copied = []
    for lesson in sorted(lessons.glob("*.ipynb")):
        target = dest / lesson.name
        if target.exists() or target.is_symlink():
            continue
        shutil.copyfile(lesson, target)
        target.chmod(0o600)
        copied.append(lesson.name)
    return copied


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    prefix = Path(os.environ.get(PREFIX_ENV) or sys.prefix).resolve()
    if prefix.name == "venv":  # started without the hub's environment: find the install
        prefix = prefix.parent
    layout = HubLayout(prefix)
    os.umask(0o077)
    os.environ["TMPDIR"] = str(private_folders())
    home = Path.home()
    home.chmod(0o700)  # notebooks, builds and VM sockets are nobody else's business
    copy_new_lessons(layout.lessons, home / LESSONS_FOLDER)
    settings = json.loads(layout.settings.read_text())
    from kernelmagic.hub.grading import prepare_learner

    user = os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER", "")
    extra = prepare_learner(
        home,
        instructor=user in settings.get("instructors", []),
        course_id=settings.get("course_id", "kernelmagic"),
        exchange=layout.exchange,
    )
    singleuser = layout.bin("jupyterhub-singleuser")
    os.execv(singleuser, [str(singleuser), *args, *(extra or [])])


if __name__ == "__main__":
    main()
