# SPDX-License-Identifier: MIT
"""Loading, unloading and inspecting modules in the lab VM.

Every guest command goes as an argv through the agent, never through a shell. Load and
unload results carry exactly the kernel log records the operation produced (a log mark
before, the records after it: ``kernel_log.py``). A refusal becomes a ``ModuleError``
with a hint a learner can act on (``refusals.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.errors import UsageError
from kernelmagic.guest import refusals
from kernelmagic.guest.kernel_log import LogRecord, log_mark, log_since
from kernelmagic.guest.modinfo import ModuleInfo, parse_modinfo_output, read_modinfo
from kernelmagic.guest.protocol import Guest
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.names import kernel_module_name

__all__ = [
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
    "param_text",
    "parse_proc_modules",
    "rmmod",
]

EXTRA_DIR = "/lib/modules/{release}/extra"


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
    """The outcome of insmod, rmmod or modprobe: what ran and what the kernel logged."""

    action: str
    module: str
    argv: list[str]
    log: list[LogRecord] = field(default_factory=list)
    duration: float = 0.0

    @property
    def log_text(self) -> str:
        return "\n".join(r.message for r in self.log)

    def __repr__(self) -> str:
        lines = [f"{self.action} {self.module}: ok"]
        lines += [f"  {r.message}" for r in self.log]
        return "\n".join(lines)


def _run_logged(
    vm: Guest, argv: list[str], timeout: float
) -> tuple[ExecResult, list[LogRecord], float]:
    """Run a module tool in the guest; return its result, the records it logged, its time."""
    mark = log_mark(vm)
    started = time.monotonic()
    result = vm.exec(argv, timeout=timeout)
    duration = time.monotonic() - started
    return result, log_since(vm, mark), duration


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
    timeout: float = 60.0,
) -> ModuleOperation:
    """Load a ``.ko`` from the host's build share; raise ModuleError with a hint on refusal.

    ``symbol_sources`` are the ``Module.symvers`` files of modules that may export what
    this one needs (a notebook passes its own builds). With the kernel's own
    ``Module.symvers``, always read, they name the module to load first when the
    kernel reports an unknown symbol; nothing else is searched, so the hint does not
    depend on what happens to be in the build cache.
    """
    info = info or read_modinfo(ko)
    args = kernel_params(params)
    argv = ["insmod", vm.guest_path(ko), *args]
    result, records, duration = _run_logged(vm, argv, timeout)
    if result.exit_code != 0:
        raise refusals.load_error(vm, info, argv, result, records, symbol_sources or ())
    return ModuleOperation("insmod", info.name, argv, records, duration)


def rmmod(vm: Guest, name: str, *, force: bool = False, timeout: float = 60.0) -> ModuleOperation:
    """Unload a module by name (``-`` or ``_``, as the kernel does not care)."""
    name = kernel_module_name(name)
    argv = ["rmmod", *(["-f"] if force else []), name]
    result, records, duration = _run_logged(vm, argv, timeout)
    if result.exit_code != 0:
        raise refusals.unload_error(name, result, records)
    return ModuleOperation("rmmod", name, argv, records, duration)


def modprobe(
    vm: Guest, name: str, params: Sequence[str] = (), *, remove: bool = False,
    timeout: float = 60.0,
) -> ModuleOperation:  # fmt: skip
    """Load (or with ``remove`` unload) a module and its dependencies by name."""
    name = kernel_module_name(name)
    argv = ["modprobe", *(["-r"] if remove else []), name, *kernel_params(params)]
    result, records, duration = _run_logged(vm, argv, timeout)
    if result.exit_code != 0:
        raise refusals.modprobe_error(name, remove, result, records)
    return ModuleOperation("modprobe -r" if remove else "modprobe", name, argv, records, duration)


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


def is_loaded(vm: Guest, name: str) -> bool:
    """Whether ``/proc/modules`` lists the module (``-`` and ``_`` alike)."""
    return any(m.name == kernel_module_name(name) for m in lsmod(vm))


def modinfo(vm: Guest, name: str) -> ModuleInfo:
    """``modinfo NAME`` in the guest (installed or built-in modules)."""
    result = vm.exec(["modinfo", name])
    if result.exit_code != 0:
        raise refusals.modinfo_error(name, result)
    return parse_modinfo_output(result.stdout, name)
