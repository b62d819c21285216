# SPDX-License-Identifier: MIT
"""Small checks that a lesson's exercise worked, verified in the lab VM.

Each check looks at the guest (``/proc/modules``, the kernel log, a ``/proc``, ``/sys`` or
``/dev`` path) and either returns a :class:`CheckResult`, which shows one green line in
the notebook, or raises :class:`CheckFailed` with a hint in plain words. ``CheckFailed``
is an ``AssertionError``, so a failed check marks the cell failed in JupyterLab, nbval
and papermill, and reads like an assertion in pytest. Instructors use the same functions
in their own lessons::

    from kernelmagic.course import check
    check.module_loaded("hello")
    check.log_contains("Hello, world!", hint="did you call pr_info() in hello_init?")

Every check takes ``vm=``; without it, the checks use the VM given to :func:`use_vm`,
else the lab VM of the current workspace (the notebook's, the one the magics use),
started if none runs yet.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from kernelmagic.guest import kernel_log, kmod
from kernelmagic.guest.kernel_log import LogMark, LogRecord
from kernelmagic.guest.kmod import param_text
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name
from kernelmagic.workspace import current as current_workspace

__all__ = [
    "CheckFailed",
    "CheckResult",
    "check_all",
    "device_exists",
    "lab_vm",
    "log_contains",
    "module_loaded",
    "module_not_loaded",
    "param_value",
    "path_absent",
    "path_exists",
    "proc_contains",
    "slab_objects",
    "sysfs_value",
    "use_vm",
]

_default_vm: Guest | None = None


class CheckFailed(AssertionError):
    """An exercise check did not pass; ``hint`` says what to look at."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}\nHint: {hint}" if hint else message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class CheckResult:
    """A passed check: what was verified, and what was seen."""

    what: str
    seen: str = ""

    def __repr__(self) -> str:
        return f"check passed: {self.what}"

    def _repr_html_(self) -> str:
        return (
            '<div style="color:#1a7f37"><b>&#10003; check passed:</b> '
            f"{html.escape(self.what)}</div>"
        )


def lab_vm(vm: Guest | None = None) -> Guest:
    """The VM a check runs against: ``vm`` if given, else the default.

    The default is the VM given to :func:`use_vm`, else the current workspace's (in a
    notebook, the lab VM the magics use, started if needed).
    """
    if vm is not None:
        return vm
    if _default_vm is not None:
        return _default_vm
    workspace = current_workspace()
    if workspace is None:
        raise CheckFailed(
            "no lab VM to check against",
            "pass vm=LabVM(...) or call kernelmagic.course.check.use_vm(vm) first",
        )
    return workspace.vm


def use_vm(vm: Guest | None) -> None:
    """Make ``vm`` the default for checks called without ``vm=`` (scripts, tests)."""
    global _default_vm
    _default_vm = vm


def _read(vm: Guest, path: str) -> str | None:
    """The text of a guest file, or None when it does not exist or cannot be read."""
    result = vm.exec(["cat", path], timeout=15)
    return result.stdout if result.exit_code == 0 else None


def _exists(vm: Guest, path: str) -> bool:
    return vm.exec(["test", "-e", path], timeout=15).exit_code == 0


def _short(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " …"


# -- modules ---------------------------------------------------------------------------


def module_loaded(name: str, *, hint: str = "", vm: Guest | None = None) -> CheckResult:
    """The module is in ``/proc/modules`` (it loaded, and its init returned 0)."""
    vm = lab_vm(vm)
    name = kernel_module_name(name)
    modules = kmod.lsmod(vm)
    if any(m.name == name for m in modules):
        return CheckResult(f"module {name} is loaded")
    raise CheckFailed(
        f"module {name} is not loaded",
        hint
        or f"build it with %%kmodule {name}, then load it with %insmod {name}; if insmod "
        "failed, read its message: an init that returns non-zero leaves nothing loaded",
    )


def module_not_loaded(name: str, *, hint: str = "", vm: Guest | None = None) -> CheckResult:
    """The module is not in ``/proc/modules`` (it was unloaded, or never loaded)."""
    vm = lab_vm(vm)
    name = kernel_module_name(name)
    if not any(m.name == name for m in kmod.lsmod(vm)):
        return CheckResult(f"module {name} is not loaded")
    raise CheckFailed(f"module {name} is still loaded", hint or f"unload it with %rmmod {name}")


def param_value(
    module: str, param: str, expected: object, *, hint: str = "", vm: Guest | None = None
) -> CheckResult:
    """``/sys/module/MODULE/parameters/PARAM`` reads ``expected`` (compared as text)."""
    vm = lab_vm(vm)
    module = kernel_module_name(module)
    path = f"/sys/module/{module}/parameters/{param}"
    want = param_text(expected)
    text = _read(vm, path)
    if text is None:
        raise CheckFailed(
            f"{path} does not exist",
            hint
            or f"is {module} loaded, does it declare module_param({param}, ...), and are "
            "its permissions non-zero (0 hides it from sysfs)?",
        )
    if text.strip() != want:
        raise CheckFailed(
            f"{path} reads {text.strip()!r}, expected {want!r}",
            hint or f"load it with %insmod {module} {param}={want}, or write the file",
        )
    return CheckResult(f"{module}.{param} is {want}", text)


# -- kernel log ------------------------------------------------------------------------


def log_contains(
    text: str | re.Pattern[str],
    *,
    since_load: str | None = None,
    last: int = 200,
    hint: str = "",
    vm: Guest | None = None,
) -> CheckResult:
    """The kernel log holds ``text`` (a substring, or a compiled regular expression).

    With ``since_load=NAME`` only the records since the most recent ``%insmod NAME`` (or
    ``%modprobe``) of this notebook count; outside a notebook, those from its last
    taint line, else the last ``last`` records.
    """
    vm = lab_vm(vm)
    records = None
    if since_load is not None:
        mark = _load_mark(kernel_module_name(since_load))
        if mark is not None:
            records = kernel_log.log_since(vm, mark)
    if records is None:
        records = kernel_log.dmesg(vm, last=last)
        if since_load is not None:
            records = _since_load(records, kernel_module_name(since_load))
    messages = [r.message for r in records]
    if isinstance(text, re.Pattern):
        found = next((m for m in messages if text.search(m)), None)
        label = f"/{text.pattern}/"
    else:
        found = next((m for m in messages if text in m), None)
        label = repr(text)
    where = f" since {since_load} was loaded" if since_load else ""
    if found is not None:
        return CheckResult(f"the kernel log has {label}{where}", found)
    tail = "\n".join(messages[-8:])
    raise CheckFailed(
        f"the kernel log has no {label}{where}; its last lines are:\n{_short(tail, 800)}",
        hint
        or "check the spelling in your pr_info() call, and that the module was "
        "rebuilt and reloaded after your last edit",
    )


def _load_mark(name: str) -> LogMark | None:
    """Where the workspace's last %insmod/%modprobe of ``name`` began, if it knows."""
    workspace = current_workspace()
    return workspace.load_marks.get(name) if workspace is not None else None


def _since_load(records: list[LogRecord], name: str) -> list[LogRecord]:
    """Records from the latest insmod of ``name``: after its previous goodbye, if any."""
    starts = [
        i
        for i, r in enumerate(records)
        if r.message.startswith(f"{name}: loading out-of-tree")
        or r.message.startswith(f"{name}: module verification failed")
    ]
    if starts:
        return records[starts[-1] :]
    # Later loads log no taint line: take everything after the last unload marker, which
    # our kernel log helper cannot know, so fall back to the window the caller asked for.
    return records


# -- files in /proc, /sys, /dev --------------------------------------------------------


def proc_contains(path: str, text: str, *, hint: str = "", vm: Guest | None = None) -> CheckResult:
    """The guest file ``path`` (usually under ``/proc``) exists and contains ``text``."""
    vm = lab_vm(vm)
    content = _read(vm, path)
    if content is None:
        raise CheckFailed(
            f"{path} does not exist",
            hint or "is the module loaded, and did proc_create() get this name?",
        )
    if text not in content:
        raise CheckFailed(
            f"{path} does not contain {text!r}; it reads:\n{_short(content)}",
            hint or "look at the seq_printf()/seq_puts() calls in your show function",
        )
    return CheckResult(f"{path} contains {text!r}", content)


def sysfs_value(
    path: str, expected: object, *, hint: str = "", vm: Guest | None = None
) -> CheckResult:
    """The sysfs file ``path`` reads ``expected`` (surrounding whitespace ignored)."""
    vm = lab_vm(vm)
    want = str(expected).strip()
    content = _read(vm, path)
    if content is None:
        raise CheckFailed(
            f"{path} does not exist",
            hint or "is the module loaded, and are the kobject and attribute names right?",
        )
    if content.strip() != want:
        raise CheckFailed(
            f"{path} reads {content.strip()!r}, expected {want!r}",
            hint or "look at your show() and store() functions",
        )
    return CheckResult(f"{path} reads {want!r}", content)


def device_exists(
    path: str, *, char: bool = True, hint: str = "", vm: Guest | None = None
) -> CheckResult:
    """``path`` exists in the guest and, with ``char``, is a character device."""
    vm = lab_vm(vm)
    flag = "-c" if char else "-e"
    if vm.exec(["test", flag, path], timeout=15).exit_code == 0:
        return CheckResult(f"{path} exists" + (" and is a character device" if char else ""))
    raise CheckFailed(
        f"{path} is {'not a character device' if _exists(vm, path) else 'missing'}",
        hint or "is the module loaded, and did misc_register() succeed (see the log)?",
    )


def path_exists(path: str, *, hint: str = "", vm: Guest | None = None) -> CheckResult:
    """``path`` exists in the guest (a file, a folder or a link, such as a sysfs entry)."""
    vm = lab_vm(vm)
    if _exists(vm, path):
        return CheckResult(f"{path} exists")
    raise CheckFailed(f"{path} does not exist", hint or "is the module loaded?")


def path_absent(path: str, *, hint: str = "", vm: Guest | None = None) -> CheckResult:
    """``path`` does not exist in the guest (the module cleaned up after itself)."""
    vm = lab_vm(vm)
    if not _exists(vm, path):
        return CheckResult(f"{path} is gone")
    raise CheckFailed(
        f"{path} still exists", hint or "the exit function must remove what init created"
    )


def slab_objects(cache: str, *, vm: Guest | None = None) -> int | None:
    """Active objects of slab cache ``cache`` in ``/proc/slabinfo``; None if not listed.

    A cache that the allocator merged with another of the same size has no line of its
    own (it appears only as a link in ``/sys/kernel/slab``).
    """
    vm = lab_vm(vm)
    text = _read(vm, "/proc/slabinfo") or ""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == cache:
            return int(parts[1])
    return None


def check_all(*checks: Callable[[], CheckResult]) -> list[CheckResult]:
    """Run several checks; the first failure raises."""
    return [c() for c in checks]
