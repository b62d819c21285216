# SPDX-License-Identifier: MIT
"""Loading, unloading and inspecting modules in the lab VM.

Every guest command goes as an argv through the agent, never through a shell. Load and
unload results carry exactly the kernel log records the operation produced: insmod and
rmmod through the guest helper, one exchange each, with a deadline (``modop.py``);
modprobe through kmod's tool between two log reads (``kernel_log.py``). A refusal
becomes a ``ModuleError`` with a hint a learner can act on (``refusals.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.errors import UsageError
from kernelmagic.guest import modop, refusals
from kernelmagic.guest.kernel_log import LogMark, LogRecord, log_mark, log_since
from kernelmagic.guest.modinfo import ModuleInfo, parse_modinfo_output, read_modinfo
from kernelmagic.guest.protocol import Guest
from kernelmagic.guest.watched import MODOP, Watch, clamp_timeout, run_watched
from kernelmagic.names import kernel_module_name

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXTRA_DIR",
    "LoadedModule",
    "ModuleOperation",
    "insmod",
    "install",
    "is_loaded",
    "kernel_param",
    "kernel_params",
    "lsmod",
    "modinfo",
    "modprobe",
    "module_state",
    "operations_running",
    "param_text",
    "parse_proc_modules",
    "rmmod",
]

EXTRA_DIR = "/lib/modules/{release}/extra"
#: Seconds an init or exit may run without a new kernel log line (up to 60 s in all).
DEFAULT_TIMEOUT = modop.DEFAULT_TIMEOUT


@dataclass(frozen=True)
class LoadedModule:
    """One line of ``/proc/modules``."""

    name: str
    size: int
    use_count: int
    used_by: list[str]
    state: str


@dataclass
class ModuleOperation:
    """The outcome of insmod, rmmod or modprobe: what ran and what the kernel logged.

    ``log`` holds at most the last ``modop.KEEP_RECORDS`` records; ``omitted`` counts
    those left out, ``lost`` those of them that the kernel overwrote before they could
    be read (a flood wraps its log buffer). ``mark`` is where the log stood before.
    """

    action: str
    module: str
    argv: list[str]
    log: list[LogRecord] = field(default_factory=list)
    duration: float = 0.0
    omitted: int = 0
    lost: int = 0
    mark: LogMark | None = None

    @property
    def log_text(self) -> str:
        return "\n".join(r.message for r in self.log)

    def __repr__(self) -> str:
        lines = [f"{self.action} {self.module}: ok"]
        if self.omitted:
            lines.append(f"  ({self.omitted} earlier log lines left out)")
        lines += [f"  {r.message}" for r in self.log]
        return "\n".join(lines)


# -- parameters ----------------------------------------------------------------------


def kernel_param(arg: str) -> str:
    """Quote one ``KEY=VALUE`` so the kernel receives VALUE whole.

    The kernel splits module parameters on spaces unless a value is in double quotes,
    and ``insmod`` joins its arguments with spaces, so a value with a space must reach
    it quoted. A value already in double quotes passes unchanged.
    """
    key, sep, value = arg.partition("=")
    if not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", key):
        raise UsageError(f"{arg!r} is not a module parameter; write KEY=VALUE, e.g. name=Linux")
    if not sep:
        return key
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if '"' in inner:
        raise UsageError(
            f"the value of {key} contains a double quote, which the kernel's parameter "
            "parser cannot carry"
        )
    if inner != value or any(c.isspace() for c in inner) or inner == "":
        return f'{key}="{inner}"'
    return f"{key}={value}"


def kernel_params(args: Sequence[str] | Mapping[str, object]) -> list[str]:
    """``KEY=VALUE`` strings, or a mapping of Python values, as insmod's quoted arguments."""
    if isinstance(args, Mapping):
        args = [f"{k}={param_text(v)}" for k, v in args.items()]
    return [kernel_param(a) for a in args]


def param_text(value: object) -> str:
    """A Python value as the kernel writes the parameter: ``Y``/``N``, ``1,2,3``, text.

    This is also how ``/sys/module/M/parameters/P`` reads back, so a check can compare.
    """
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


# -- operations ----------------------------------------------------------------------


def insmod(
    vm: Guest,
    ko: Path,
    params: Sequence[str] | Mapping[str, object] = (),
    *,
    info: ModuleInfo | None = None,
    symbol_sources: Sequence[Path] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> ModuleOperation:
    """Load a ``.ko`` from the host's build share; raise ModuleError with a hint on refusal.

    ``symbol_sources`` are the ``Module.symvers`` files of modules that may export what
    this one needs (a notebook passes its own builds). With the kernel's own
    ``Module.symvers``, always read, they name the module to load first when the
    kernel reports an unknown symbol; nothing else is searched, so the hint does not
    depend on what happens to be in the build cache.

    An init that goes ``timeout`` seconds without a new kernel log line (60 s at most)
    raises OperationStuck; ``progress`` hears about it once a second meanwhile.
    """
    info = info or read_modinfo(ko)
    args = kernel_params(params)
    path = vm.guest_path(ko)
    vm.wait_settled()  # the guest's own start-up records are not this load's
    argv = ["insmod", path, *args]
    report, duration = modop.run_module_op(
        vm, "insmod", info.name, [path, *args], timeout=timeout, progress=progress
    )
    if not report.ok:
        raise refusals.load_error(vm, info, argv, report, symbol_sources or ())
    return _operation("insmod", info.name, argv, report, duration)


def rmmod(
    vm: Guest,
    name: str,
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> ModuleOperation:
    """Unload a module by name (``-`` or ``_``, as the kernel does not care).

    Deadline and ``progress`` as for :func:`insmod`, for the module's exit function.
    """
    name = kernel_module_name(name)
    vm.wait_settled()
    argv = ["rmmod", *(["-f"] if force else []), name]
    report, duration = modop.run_module_op(
        vm, "rmmod", name, argv[1:], timeout=timeout, progress=progress
    )
    if not report.ok:
        raise refusals.unload_error(name, report)
    return _operation("rmmod", name, argv, report, duration)


def _operation(
    action: str, module: str, argv: list[str], report: modop.HelperReport, duration: float
) -> ModuleOperation:
    return ModuleOperation(
        action, module, argv, report.records, duration, omitted=report.omitted,
        lost=report.lost, mark=report.mark,
    )  # fmt: skip


def modprobe(
    vm: Guest,
    name: str,
    params: Sequence[str] = (),
    *,
    remove: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> ModuleOperation:
    """Load (or with ``remove`` unload) a module and its dependencies by name.

    kmod's own tool, which resolves the dependencies, between two reads of the log.
    At ``timeout`` seconds it raises OperationStuck, as insmod and rmmod do.
    """
    name = kernel_module_name(name)
    argv = ["modprobe", *(["-r"] if remove else []), name, *kernel_params(params)]
    action = "modprobe -r" if remove else "modprobe"
    phase = "exit" if remove else "init"
    mark = log_mark(vm)

    def describe(seconds: float, busy: bool) -> str:
        return f"{action} {name}: {phase} has not returned after {seconds:.0f} s"

    timeout = clamp_timeout(timeout, modop.MAX_TIMEOUT)
    outcome = run_watched(vm, argv, Watch(timeout, timeout, describe, progress))
    if outcome.result is None:
        raise modop.stuck_error(action, name, argv, outcome, timeout, phase=phase)
    records = log_since(vm, mark)
    if outcome.result.exit_code != 0:
        raise refusals.modprobe_error(name, remove, outcome.result, records)
    return ModuleOperation(action, name, argv, records, outcome.seconds, mark=mark)


def install(vm: Guest, ko: Path, *, info: ModuleInfo | None = None) -> str:
    """Copy a ``.ko`` into ``/lib/modules/$(uname -r)/extra`` and run ``depmod -a``."""
    info = info or read_modinfo(ko)
    release = vm.exec(["uname", "-r"], check=True).stdout.strip()
    folder = EXTRA_DIR.format(release=release)
    dest = f"{folder}/{info.name}.ko"
    vm.exec(["mkdir", "-p", folder], check=True)
    vm.exec(["cp", vm.guest_path(ko), dest], check=True)
    vm.exec(["depmod", "-a"], timeout=60, check=True)
    return dest


def lsmod(vm: Guest) -> list[LoadedModule]:
    """The loaded modules, as ``/proc/modules`` lists them."""
    out = vm.exec(["cat", "/proc/modules"], check=True).stdout
    return parse_proc_modules(out)


def parse_proc_modules(text: str) -> list[LoadedModule]:
    """``/proc/modules`` lines as records; a line too short to be one is skipped."""
    modules = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        used_by = [u for u in parts[3].strip(",").split(",") if u and u != "-"]
        modules.append(LoadedModule(parts[0], int(parts[1]), int(parts[2]), used_by, parts[4]))
    return modules


def operations_running(vm: Guest) -> list[str]:
    """Module operations still running in the guest (``"123 insmod"``), e.g. after Ctrl-C.

    An insmod stuck in a module's init cannot be stopped; the caller restarts the VM.
    """
    result = vm.exec([MODOP, "running"], timeout=10, check=True)
    return [line.partition(" ")[2] for line in result.stdout.splitlines() if line.strip()]


def module_state(vm: Guest, name: str) -> str | None:
    """``Live``, ``Loading`` or ``Unloading`` as ``/proc/modules`` says; None if not loaded."""
    wanted = kernel_module_name(name)
    return next((m.state for m in lsmod(vm) if m.name == wanted), None)


def is_loaded(vm: Guest, name: str) -> bool:
    """Whether ``/proc/modules`` lists the module (``-`` and ``_`` alike)."""
    return any(m.name == kernel_module_name(name) for m in lsmod(vm))


def modinfo(vm: Guest, name: str) -> ModuleInfo:
    """``modinfo NAME`` in the guest (installed or built-in modules)."""
    result = vm.exec(["modinfo", name])
    if result.exit_code != 0:
        raise refusals.modinfo_error(name, result)
    return parse_modinfo_output(result.stdout, name)
