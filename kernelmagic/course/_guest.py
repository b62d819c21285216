# SPDX-License-Identifier: MIT
"""What the checks read of the lab: the VM, guest files, the workspace's builds, crashes.

Shared by the check modules (``check``, ``writes``, ``memory``) and the lesson helpers.
Without ``vm=``, a check uses the VM given to :func:`use_vm`, else the current
workspace's (in a notebook, the lab VM the magics use, started if none runs yet).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from kernelmagic.course.results import CheckFailed
from kernelmagic.guest.protocol import Guest
from kernelmagic.kbuild.elf import read_elf
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.crash import CrashReport
from kernelmagic.names import kernel_module_name
from kernelmagic.workspace import LastOperation, Workspace
from kernelmagic.workspace import current as current_workspace

__all__ = [
    "build_state",
    "crashes_of",
    "describe_crash",
    "exists",
    "lab_vm",
    "last_build",
    "last_operation",
    "loaded_copy_is_stale",
    "read",
    "short",
    "use_vm",
    "workspace",
]

_default_vm: Guest | None = None


def lab_vm(vm: Guest | None = None) -> Guest:
    """The VM a check runs against: ``vm`` if given, else the default.

    The default is the VM given to :func:`use_vm`, else the current workspace's (in a
    notebook, the lab VM the magics use, started if needed).
    """
    if vm is not None:
        return vm
    if _default_vm is not None:
        return _default_vm
    ws = current_workspace()
    if ws is None:
        raise CheckFailed(
            "no lab VM to check against",
            "pass vm=LabVM(...) or call kernelmagic.course.check.use_vm(vm) first",
        )
    return ws.vm


def use_vm(vm: Guest | None) -> None:
    """Make ``vm`` the default for checks called without ``vm=`` (scripts, tests)."""
    global _default_vm
    _default_vm = vm


def workspace() -> Workspace | None:
    """The notebook's workspace (its builds and loads), if the checks run in one."""
    return current_workspace()


def read(vm: Guest, path: str) -> str | None:
    """The text of a guest file, or None when it does not exist or cannot be read."""
    result = vm.exec(["cat", path], timeout=15)
    return result.stdout if result.exit_code == 0 else None


def exists(vm: Guest, path: str) -> bool:
    return vm.exec(["test", "-e", path], timeout=15).exit_code == 0


def short(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " …"


# -- builds ------------------------------------------------------------------------------


def last_build(name: str) -> BuildResult | None:
    """The workspace's last successful build of ``name``, if there is a workspace and one."""
    ws = workspace()
    return ws.builds.get(name) if ws is not None else None


def last_operation(name: str) -> LastOperation | None:
    """How the workspace's last insmod/rmmod/modprobe of ``name`` ended, if it saw one."""
    ws = workspace()
    return ws.last_ops.get(kernel_module_name(name)) if ws is not None else None


def build_state(name: str) -> str:
    """ "built", "failed" (the last run of its cell did not build), "not run", or "unknown".

    The workspace records a cell's sources before building them and a build only when it
    worked, so sources that differ from the last build's files mean the last try failed.
    """
    ws = workspace()
    if ws is None:
        return "unknown"
    sources = ws.modules.get(name)
    if sources is None or not sources.has_main:
        return "built" if name in ws.builds else "not run"
    build = ws.builds.get(name)
    if build is None:
        return "failed"
    for filename, source in sources.files.items():
        try:
            if (build.build_dir / filename).read_text(encoding="utf-8") != source.text:
                return "failed"
        except OSError:
            return "failed"
    return "built"


def loaded_copy_is_stale(vm: Guest, name: str) -> bool:
    """Whether the loaded ``name`` is another build than the workspace's last one.

    Both carry the linker's build ID: in the ``.ko``'s ``.note.gnu.build-id`` section, and
    in ``/sys/module/NAME/notes/`` once loaded. Unknown counts as not stale.
    """
    build = last_build(name)
    if build is None:
        return False
    try:
        note = read_elf(build.ko_path).section(".note.gnu.build-id")
    except (OSError, ValueError):
        return False
    if not note:
        return False
    path = f"/sys/module/{kernel_module_name(name)}/notes/.note.gnu.build-id"
    result = vm.exec(["md5sum", path], timeout=15)
    if result.exit_code != 0 or not result.stdout.strip():
        return False
    return result.stdout.split()[0] != hashlib.md5(note).hexdigest()


# -- crashes -----------------------------------------------------------------------------


def crashes_of(vm: Guest, name: str, since: int | None = None) -> list[CrashReport]:
    """Crash reports of this boot (after console position ``since``) in module ``name``."""
    console: Any = getattr(vm, "console", None)
    if console is None:
        return []
    try:
        reports = console.crashes if since is None else console.crashes_since(since)
    except Exception:  # a VM that is gone has no console to ask; not a learner's problem
        return []
    name = kernel_module_name(name)
    return [r for r in reports if r.kind != "warning" and r.module == name]


def console_mark(vm: Guest) -> int | None:
    console: Any = getattr(vm, "console", None)
    try:
        return console.mark() if console is not None else None
    except Exception:
        return None


_USER_ADDRESS = re.compile(r"address: (0000[0-7][0-9a-f]{11})\b")


def describe_crash(report: CrashReport) -> str:
    """The crash in one line: its kind, the function and the learner's line, a word on a
    user-space address."""
    where = report.function or report.location or "an unknown place"
    if report.function and report.offset is not None:
        where += f"+{report.offset:#x}"
        line = _crash_line(report)
        if line:
            where += f" ({line})"
    text = f"{report.kind} in {where}: {report.title}"
    if _USER_ADDRESS.search(report.title) and "NULL" not in report.title:
        text += (
            " (an address below 0x0000800000000000 is a user-space address: a __user "
            "pointer was dereferenced; copy_from_user()/copy_to_user() are the way)"
        )
    return text


def _crash_line(report: CrashReport) -> str:
    """ "line 17 of %%kmodule giveup", decoded by the workspace (against the loaded copy)."""
    ws = workspace()
    if ws is None:
        return ""
    site = ws.explain(report).site
    place = site.learner_place if site is not None else None
    if place is not None and place.source is not None:
        return place.source.full
    if site is not None and site.places:
        return f"{Path(site.places[0].file).name}:{site.places[0].line}"
    return ""
