# SPDX-License-Identifier: MIT
"""Small checks that a lesson's exercise worked, verified in the lab VM.

Each check looks at the guest (``/proc/modules``, the kernel log, a ``/proc``, ``/sys`` or
``/dev`` path, what a ``write()`` returns) or at the module's build, and either returns a
:class:`CheckResult` or raises :class:`CheckFailed` with a hint in plain words, given in
levels (a pointer, then the API, then the shape of the code). A check cell runs all of
its checks with :func:`check_all`, which first makes sure the module built, did not crash
and is (or is not) loaded, then shows every result: "N of M checks passed"::

    from kernelmagic.course import check

    check.check_all(
        lambda: check.log_contains("Hello, world!", since_load="hello",
                                   hint=("look at hello_init", "pr_info()")),
        lambda: check.param_value("hello", "name", "world"),
        module="hello", loaded=True,
    )

Every check takes ``vm=``; without it, the checks use the VM given to :func:`use_vm`,
else the lab VM of the current workspace (the notebook's), started if none runs yet.
"""

from __future__ import annotations

import re

from kernelmagic.course._guest import (
    exists,
    lab_vm,
    last_build,
    read,
    short,
    use_vm,
    workspace,
)
from kernelmagic.course.dyndbg import debug_message
from kernelmagic.course.memory import allocations_freed
from kernelmagic.course.ready import (
    CRASH_HINTS,
    check_all,
    module_ready,
    troubled_by_last_operation,
)
from kernelmagic.course.results import CheckFailed, CheckReport, CheckResult, HintText
from kernelmagic.course.writes import write_returns
from kernelmagic.guest import kernel_log, kmod
from kernelmagic.guest.kernel_log import LogMark, LogRecord
from kernelmagic.guest.kmod import param_text
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name

__all__ = [
    "CheckFailed",
    "CheckReport",
    "CheckResult",
    "allocations_freed",
    "check_all",
    "debug_message",
    "device_exists",
    "exports_symbol",
    "file_equals",
    "file_mode",
    "file_reads",
    "lab_vm",
    "log_contains",
    "modinfo_field",
    "module_loaded",
    "module_not_loaded",
    "module_ready",
    "param_value",
    "path_absent",
    "path_exists",
    "proc_contains",
    "slab_objects",
    "sysfs_value",
    "use_vm",
    "write_returns",
]


# -- modules ---------------------------------------------------------------------------


def module_loaded(name: str, *, hint: HintText = "", vm: Guest | None = None) -> CheckResult:
    """The module is in ``/proc/modules`` (it loaded, and its init returned 0)."""
    vm = lab_vm(vm)
    name = kernel_module_name(name)
    if any(m.name == name for m in kmod.lsmod(vm)):
        return CheckResult(f"module {name} is loaded")
    raise CheckFailed(
        f"module {name} is not loaded",
        hint
        or f"build it with %%kmodule {name}, then load it with %insmod {name}; if insmod "
        "failed, read its message: an init that returns non-zero leaves nothing loaded",
    )


def module_not_loaded(name: str, *, hint: HintText = "", vm: Guest | None = None) -> CheckResult:
    """The module is not in ``/proc/modules`` (it was unloaded, or never loaded).

    An rmmod of it that hung or crashed fails the check: the VM restart that followed
    is what removed the module, not its exit function.
    """
    vm = lab_vm(vm)
    name = kernel_module_name(name)
    troubled_by_last_operation(name)
    if not any(m.name == name for m in kmod.lsmod(vm)):
        return CheckResult(f"module {name} is not loaded")
    raise CheckFailed(f"module {name} is still loaded", hint or f"unload it with %rmmod {name}")


def param_value(
    module: str, param: str, expected: object, *, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """``/sys/module/MODULE/parameters/PARAM`` reads ``expected`` (compared as text)."""
    vm = lab_vm(vm)
    module = kernel_module_name(module)
    path = f"/sys/module/{module}/parameters/{param}"
    want = param_text(expected)
    text = read(vm, path)
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


def file_mode(path: str, mode: int, *, hint: HintText = "", vm: Guest | None = None) -> CheckResult:
    """The guest file ``path`` has the permission bits ``mode`` (``0o644``, say)."""
    vm = lab_vm(vm)
    result = vm.exec(["stat", "-c", "%a %A", path], timeout=15)
    if result.exit_code != 0:
        raise CheckFailed(f"{path} does not exist", hint or "is the module loaded?")
    octal, symbolic = result.stdout.split()
    if int(octal, 8) != mode:
        raise CheckFailed(
            f"{path} has mode 0{octal} ({symbolic[1:]}), expected {mode:#o}".replace("0o", "0"),
            hint or "the last argument of module_param() is the file's mode, in octal",
        )
    return CheckResult(f"{path} has mode {mode:#o} ({symbolic[1:]})".replace("0o", "0"))


def modinfo_field(
    module: str, field: str, expected: str | None = None, *, hint: HintText = "",
) -> CheckResult:  # fmt: skip
    """The last build's ``.ko`` has ``field`` in its ``.modinfo`` (equal to ``expected``).

    Without ``expected`` any non-empty value passes. ``parmdesc:NAME`` asks for the
    ``MODULE_PARM_DESC`` of parameter NAME.
    """
    build = last_build(module)
    if build is None:
        raise CheckFailed(f"{module} has no build in this notebook", "run its %%kmodule cell")
    info = read_modinfo(build.ko_path)
    if field.startswith("parmdesc:"):
        param = field.split(":", 1)[1]
        found = next((p for p in info.params if p.name == param), None)
        value = found.description if found is not None else ""
        label = f"a MODULE_PARM_DESC for {param}"
    else:
        value = ", ".join(info.fields.get(field, []))
        label = field
    if not value.strip() or (expected is not None and value != expected):
        seen = f"it has {value!r}" if value else "it has none"
        want = f" {expected!r}" if expected is not None else ""
        raise CheckFailed(f"{module}.ko should have {label}{want}; {seen}",
                          hint or f"MODULE_{field.upper()}(...) sets it")  # fmt: skip
    return CheckResult(f"{module}.ko has {label} {value!r}")


def exports_symbol(
    module: str, symbol: str, *, gpl_only: bool | None = None, hint: HintText = "",
) -> CheckResult:  # fmt: skip
    """The last build of ``module`` exports ``symbol`` (its ``Module.symvers`` lists it).

    ``gpl_only=True`` wants ``EXPORT_SYMBOL_GPL``, ``False`` plain ``EXPORT_SYMBOL``.
    """
    build = last_build(module)
    if build is None:
        raise CheckFailed(f"{module} has no build in this notebook", "run its %%kmodule cell")
    try:
        symvers = (build.build_dir / "Module.symvers").read_text()
    except OSError:
        symvers = ""
    kind = next((parts[3] for parts in (line.split("\t") for line in symvers.splitlines())
                 if len(parts) >= 4 and parts[1] == symbol), None)  # fmt: skip
    want = {True: "EXPORT_SYMBOL_GPL", False: "EXPORT_SYMBOL", None: kind}[gpl_only]
    if kind is None:
        raise CheckFailed(f"{module} does not export {symbol}",
                          hint or f"EXPORT_SYMBOL_GPL({symbol}); after its definition")  # fmt: skip
    if kind != want:
        raise CheckFailed(f"{module} exports {symbol} with {kind}, not {want}",
                          hint or f"{want}({symbol});")  # fmt: skip
    return CheckResult(f"{module} exports {symbol} ({kind})")


# -- kernel log --------------------------------------------------------------------------


def log_contains(
    text: str | re.Pattern[str],
    *,
    since_load: str | None = None,
    last: int = 200,
    hint: HintText = "",
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
    own = [m for m in messages if since_load and kernel_module_name(since_load) in m.lower()]
    tail = "\n".join((own or messages)[-8:]) or "(nothing)"
    raise CheckFailed(
        f"the kernel log has no {label}{where}; its last lines are:\n{short(tail, 800)}",
        hint
        or "check the spelling in your pr_info() call, and that the module was "
        "rebuilt and reloaded after your last edit",
    )


def _load_mark(name: str) -> LogMark | None:
    """Where the workspace's last %insmod/%modprobe of ``name`` began, if it knows."""
    ws = workspace()
    return ws.load_marks.get(name) if ws is not None else None


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


# -- files in /proc, /sys, /dev ----------------------------------------------------------


def _content(vm: Guest, path: str, hint: HintText) -> str:
    """The file's text; a failure says whether it is missing or could not be read."""
    result = vm.exec(["cat", path], timeout=15)
    if result.exit_code == 0:
        return result.stdout
    if not exists(vm, path):
        raise CheckFailed(f"{path} does not exist", hint)
    why = short(result.stderr) or f"exit status {result.exit_code}"
    if result.exit_code >= 128:
        why = f"the reader was killed (exit status {result.exit_code}): did the kernel oops?"
    raise CheckFailed(f"{path} exists, but reading it failed: {why}", CRASH_HINTS)


def proc_contains(
    path: str, text: str, *, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """The guest file ``path`` (usually under ``/proc``) exists and contains ``text``."""
    vm = lab_vm(vm)
    content = _content(vm, path, "is the module loaded, and did proc_create() get this name?")
    if text not in content:
        raise CheckFailed(
            f"{path} does not contain {text!r}; it reads:\n{short(content)}",
            hint or "look at the seq_printf()/seq_puts() calls in your show function",
        )
    return CheckResult(f"{path} contains {text!r}", content)


def sysfs_value(
    path: str, expected: object, *, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """The sysfs file ``path`` reads ``expected`` (surrounding whitespace ignored)."""
    return file_reads(path, expected, hint=hint or "look at your show() and store() functions",
                      vm=vm)  # fmt: skip


def file_reads(
    path: str, expected: object, *, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """The guest file ``path`` reads exactly ``expected`` (surrounding whitespace ignored)."""
    vm = lab_vm(vm)
    want = str(expected).strip()
    content = _content(vm, path, "is the module loaded, and is the file's name right?")
    if content.strip() != want:
        raise CheckFailed(
            f"{path} reads {short(content.strip(), 120)!r}, expected {short(want, 120)!r}",
            hint or "look at the function that gives the file its content",
        )
    return CheckResult(f"{path} reads {short(want, 60)!r}", content)


def file_equals(
    path: str, expected: str, *, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """The guest file ``path`` holds exactly ``expected``: every character, newlines too.

    For grading, where :func:`file_reads` (whitespace around ignored) or
    :func:`proc_contains` (a substring) would accept a near miss.
    """
    vm = lab_vm(vm)
    content = _content(vm, path, "is the module loaded, and is the file's name right?")
    if content == expected:
        return CheckResult(f"{path} holds exactly {_clip(expected, 60)}", content)
    at = next((i for i, (a, b) in enumerate(zip(content, expected, strict=False)) if a != b),
              min(len(content), len(expected)))  # fmt: skip
    raise CheckFailed(
        f"{path} holds {_clip(content, 120)}, expected exactly {_clip(expected, 120)} "
        f"(they differ from character {at + 1} on: {content[at:at + 12]!r} instead of "
        f"{expected[at:at + 12]!r})",
        hint or "look at the function that gives the file its content, the newline included",
    )


def _clip(text: str, limit: int) -> str:
    """``repr`` of the text, whitespace kept (it matters here), cut after ``limit``."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + " …"


def device_exists(
    path: str, *, char: bool = True, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """``path`` exists in the guest and, with ``char``, is a character device."""
    vm = lab_vm(vm)
    flag = "-c" if char else "-e"
    if vm.exec(["test", flag, path], timeout=15).exit_code == 0:
        return CheckResult(f"{path} exists" + (" and is a character device" if char else ""))
    raise CheckFailed(
        f"{path} is {'not a character device' if exists(vm, path) else 'missing'}",
        hint or "is the module loaded, and did misc_register() succeed (see the log)?",
    )


def path_exists(path: str, *, hint: HintText = "", vm: Guest | None = None) -> CheckResult:
    """``path`` exists in the guest (a file, a folder or a link, such as a sysfs entry)."""
    vm = lab_vm(vm)
    if exists(vm, path):
        return CheckResult(f"{path} exists")
    raise CheckFailed(f"{path} does not exist", hint or "is the module loaded?")


def path_absent(
    path: str, *, module: str | None = None, hint: HintText = "", vm: Guest | None = None
) -> CheckResult:
    """``path`` does not exist in the guest (the module cleaned up after itself).

    A path is also absent when the module never built, never loaded, or hung in its
    exit so that the VM was restarted; with ``module`` (or inside ``check_all(...,
    module=NAME, loaded=False)``, which checks it first) those fail, saying which.
    """
    vm = lab_vm(vm)
    if module is not None:
        module_ready(module, loaded=False, vm=vm)
    if not exists(vm, path):
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
    text = read(vm, "/proc/slabinfo") or ""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == cache:
            return int(parts[1])
    return None
