# SPDX-License-Identifier: MIT
"""Loading, unloading and inspecting modules in the lab VM, with errors a learner can read.

Every guest command goes as an argv through the agent, never through a shell. Load and
unload results carry exactly the kernel log records the operation produced, read with
the guest's ``kernelmagic-kernel-log`` helper so only new records cross the slow
agent channel.
"""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kernelmagic.errors import GuestCommandError, ModuleError, UsageError
from kernelmagic.guest.kernel_log import LogMark, LogRecord, parse_dmesg
from kernelmagic.guest.modinfo import ModuleInfo, parse_modinfo_output, read_modinfo
from kernelmagic.machine.agent import ExecResult

KERNEL_LOG = "/usr/local/sbin/kernelmagic-kernel-log"
EXTRA_DIR = "/lib/modules/{release}/extra"


class Guest(Protocol):
    """What these functions need from a VM; ``LabVM`` and the unit tests' fake provide it."""

    def exec(
        self, argv: Sequence[str], *, timeout: float = ..., input: bytes | None = ...,
        check: bool = ...,
    ) -> ExecResult: ...  # fmt: skip

    def guest_path(self, host_path: Path) -> str: ...


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


# -- kernel log ----------------------------------------------------------------------


def log_mark(vm: Guest) -> LogMark:
    """Where the kernel log ends now; records after it are new."""
    settle = getattr(vm, "wait_settled", None)
    if settle is not None:
        settle()
    argv = [KERNEL_LOG, "mark"]
    result = vm.exec(argv, timeout=15, check=True)
    fields = result.stdout.split()
    try:
        return LogMark(float(fields[0]), int(fields[1]))
    except (IndexError, ValueError) as exc:
        raise GuestCommandError(argv, result.exit_code, result.stdout, "unexpected output") from exc


def log_since(vm: Guest, mark: LogMark) -> list[LogRecord]:
    out = vm.exec(
        [KERNEL_LOG, "after", f"{mark.timestamp:.6f}", str(mark.count_at_timestamp)],
        timeout=15, check=True,
    ).stdout  # fmt: skip
    return parse_dmesg(out)


def dmesg(vm: Guest, last: int | None = None) -> list[LogRecord]:
    """The kernel log records, or only the last ``last`` of them."""
    if last is not None:
        out = vm.exec([KERNEL_LOG, "tail", str(int(last))], timeout=15, check=True).stdout
    else:
        out = vm.exec(["dmesg", "-r"], timeout=30, check=True).stdout
    return parse_dmesg(out)


def clear_log(vm: Guest) -> None:
    vm.exec(["dmesg", "-c"], timeout=15, check=True)


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
    if isinstance(args, Mapping):
        args = [f"{k}={_param_text(v)}" for k, v in args.items()]
    return [kernel_param(a) for a in args]


def _param_text(value: object) -> str:
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
        raise _load_error(vm, info, argv, result, records, symbol_sources or ())
    return ModuleOperation("insmod", info.name, argv, records, duration)


def rmmod(vm: Guest, name: str, *, force: bool = False, timeout: float = 60.0) -> ModuleOperation:
    name = module_name(name)
    argv = ["rmmod", *(["-f"] if force else []), name]
    result, records, duration = _run_logged(vm, argv, timeout)
    if result.exit_code != 0:
        message = _tool_message(result)
        hint = ""
        if "not currently loaded" in message:
            hint = f"{name} is not loaded; %lsmod lists what is"
        elif "in use" in message:
            hint = (
                "another module uses it (or a program holds it open); unload the users "
                "first, as the message lists"
            )
        elif "Resource temporarily unavailable" in message:
            hint = "the module is busy; its use count is not zero"
        elif "busy" in message.lower():
            # EBUSY: the kernel never unloads a module that has no module_exit function
            hint = (
                f"the kernel will not unload {name}: a module without a module_exit "
                f"function cannot be unloaded. %rmmod --force {name} removes it anyway "
                "(and taints the kernel: R)"
            )
        raise ModuleError(
            f"rmmod {name} failed: {message}", module=name, hint=hint,
            output=result.stderr + result.stdout, log=[r.message for r in records],
            errno_name=_errno_from_message(message),
        )  # fmt: skip
    return ModuleOperation("rmmod", name, argv, records, duration)


def modprobe(
    vm: Guest, name: str, params: Sequence[str] = (), *, remove: bool = False,
    timeout: float = 60.0,
) -> ModuleOperation:  # fmt: skip
    """Load (or with ``remove`` unload) a module and its dependencies by name."""
    name = module_name(name)
    argv = ["modprobe", *(["-r"] if remove else []), name, *kernel_params(params)]
    result, records, duration = _run_logged(vm, argv, timeout)
    if result.exit_code != 0:
        message = _tool_message(result)
        hint = ""
        if "not found in directory" in message:
            hint = (
                f"modprobe finds modules only under /lib/modules/<release>; install {name} "
                "first (%%kmodule --install) so depmod indexes it"
            )
        raise ModuleError(
            f"modprobe {'-r ' if remove else ''}{name} failed: {message}", module=name,
            hint=hint, output=result.stderr + result.stdout,
            log=[r.message for r in records], errno_name=_errno_from_message(message),
        )  # fmt: skip
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
    out = vm.exec(["cat", "/proc/modules"], check=True).stdout
    return parse_proc_modules(out)


def parse_proc_modules(text: str) -> list[LoadedModule]:
    modules = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        used_by = [u for u in parts[3].strip(",").split(",") if u and u != "-"]
        modules.append(LoadedModule(parts[0], int(parts[1]), int(parts[2]), used_by, parts[4]))
    return modules


def is_loaded(vm: Guest, name: str) -> bool:
    return any(m.name == module_name(name) for m in lsmod(vm))


def modinfo(vm: Guest, name: str) -> ModuleInfo:
    """``modinfo NAME`` in the guest (installed or built-in modules)."""
    result = vm.exec(["modinfo", name])
    if result.exit_code != 0:
        raise ModuleError(
            f"modinfo {name}: {_tool_message(result)}", module=name,
            hint="modinfo knows modules under /lib/modules; for your own builds use "
            "%%kmodule's card or install the module first",
        )  # fmt: skip
    return parse_modinfo_output(result.stdout, name)


def module_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name or ""):
        raise UsageError(f"{name!r} is not a module name")
    return name.replace("-", "_")


# -- turning refusals into hints -----------------------------------------------------

_KMOD_MESSAGES = {
    "Unknown symbol in module": "ENOENT",
    "Invalid parameters": "EINVAL",
    "Invalid module format": "ENOEXEC",
}


def _tool_message(result: ExecResult) -> str:
    text = (result.stderr or result.stdout).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit status {result.exit_code}"
    return re.sub(r"^((insmod|rmmod|modprobe): )?(ERROR: |FATAL: )?", "", message)


def _errno_from_message(message: str) -> str:
    tail = message.rsplit(": ", 1)[-1].strip()
    if tail in _KMOD_MESSAGES:
        return _KMOD_MESSAGES[tail]
    for code, name in errno.errorcode.items():
        if os.strerror(code) == tail:
            return name
    return ""


def _load_error(
    vm: Guest, info: ModuleInfo, argv: list[str], result: ExecResult, records: list[LogRecord],
    symbol_sources: Sequence[Path],
) -> ModuleError:  # fmt: skip
    message = _tool_message(result)
    errno_name = _errno_from_message(message)
    log = [r.message for r in records]
    hint = ""
    unknown = [m.group(1) for r in records if (m := re.search(r"Unknown symbol (\w+)", r.message))]
    invalid = [
        m.groups() for r in records
        if (m := re.search(r"[`'](.*)' invalid for parameter [`'](\w+)'", r.message))
    ]  # fmt: skip
    if errno_name == "EEXIST":
        hint = (
            f"{info.name} is already loaded; unload it first (%rmmod {info.name}) "
            "or use %%kmodule --load, which reloads"
        )
    elif unknown:
        hint = _unknown_symbol_hint(vm, sorted(set(unknown)), symbol_sources)
    elif invalid:
        value, pname = invalid[0]
        param = info.param(pname)
        ptype = f" of type {param.type}" if param and param.type else ""
        hint = f"{value!r} is not a valid value for parameter {pname}{ptype}"
    elif message.startswith("could not load module"):
        hint = f"insmod could not open {argv[1]} in the guest; the kernel never saw the module"
    elif errno_name == "ENOEXEC":
        hint = "the .ko does not match this kernel (was it built for another kernel?)"
    elif errno_name:
        code = getattr(errno, errno_name, 0)
        hint = (
            f"the module's init function returned -{errno_name} ({-code}): "
            f"{os.strerror(code)}; the kernel did not keep it loaded"
        )
    return ModuleError(
        f"insmod {info.name} failed: {message}", module=info.name, errno_name=errno_name,
        hint=hint, output=result.stderr + result.stdout, log=log,
    )  # fmt: skip


def _unknown_symbol_hint(vm: Guest, symbols: list[str], sources: Sequence[Path]) -> str:
    """Name the module to load first, grouped by module, from the known Module.symvers."""
    own = _owners(symbols, sources)
    owner = {**_owners(symbols, _kernel_symvers(vm)), **own}  # the learner's builds win
    by_module: dict[str, list[str]] = {}
    for symbol in sorted(owner):
        by_module.setdefault(owner[symbol], []).append(symbol)
    parts = []
    for module, provided in sorted(by_module.items()):
        names = ", ".join(provided)
        if module == "vmlinux":
            parts.append(
                f"the kernel itself (vmlinux) exports {names}, so no module is missing: check "
                "that this module was built for this kernel, and for a GPL-only symbol that "
                'its MODULE_LICENSE is "GPL"'
            )
        else:
            how = "%insmod" if module in own.values() else "%modprobe"
            parts.append(f"{module} exports {names}: load it first ({how} {module})")
    missing = [s for s in symbols if s not in owner]
    if missing:
        parts.append(
            f"no module known here exports {', '.join(missing)}: load the module that "
            "does first, or check the spelling and that it is exported (EXPORT_SYMBOL)"
        )
    return f"the kernel does not know {', '.join(symbols)}. " + "; ".join(parts) + "."


def _kernel_symvers(vm: Guest) -> list[Path]:
    """The kernel's own Module.symvers, from the VM's bundle (or the current one)."""
    from kernelmagic.errors import SetupError
    from kernelmagic.machine.bundle import Bundle

    try:
        bundle = getattr(vm, "bundle", None) or Bundle.load()
        return [bundle.kbuild_dir / "Module.symvers"]
    except SetupError:  # no bundle: the learner's builds still answer
        return []


def _owners(symbols: Sequence[str], sources: Sequence[Path]) -> dict[str, str]:
    """Symbol -> the name of the module exporting it, per ``Module.symvers`` files.

    A line reads CRC, symbol, module path (``net/llc/llc``, ``vmlinux``, or a build
    folder's ``.../provider``), export type, namespace. A later file wins.
    """
    wanted = set(symbols)
    owner: dict[str, str] = {}
    for symvers in sources:
        try:
            text = symvers.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] in wanted:
                owner[parts[1]] = Path(parts[2]).name
    return owner
