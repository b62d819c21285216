# SPDX-License-Identifier: MIT
"""When the guest refuses a module operation: the error, with a hint a learner can act on.

The operation gives one terse line in kmod's words ("Unknown symbol in module", "File
exists"), and the kernel log holds the detail ("Unknown symbol provider_add"), or the
module's state (``[Loading]`` after an init that never returned). Together they say what to do:
load another module first, unload this one first, fix a parameter's value. The hints
name the lab's magics (``%rmmod``, ``%modprobe``), as that is where a learner reads them.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path

from kernelmagic.errors import ModuleError, SetupError
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.modinfo import ModuleInfo
from kernelmagic.guest.modop import HelperReport, kmod_message
from kernelmagic.guest.modop import errno_name as modop_errno_name
from kernelmagic.guest.protocol import Guest
from kernelmagic.machine.exec_result import ExecResult

__all__ = [
    "errno_from_message",
    "load_error",
    "modinfo_error",
    "modprobe_error",
    "tool_message",
    "unload_error",
]

# What kmod says for the errno values the kernel's module loader gives a meaning of its own.
_KMOD_MESSAGES = {
    "Unknown symbol in module": "ENOENT",
    "Invalid parameters": "EINVAL",
    "Invalid module format": "ENOEXEC",
}


def tool_message(result: ExecResult) -> str:
    """The last line kmod printed, without its ``insmod: ERROR:`` prefix."""
    text = (result.stderr or result.stdout).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    message = lines[-1] if lines else f"exit status {result.exit_code}"
    return re.sub(r"^((insmod|rmmod|modprobe): )?(ERROR: |FATAL: )?", "", message)


def errno_from_message(message: str) -> str:
    """The errno name (``"EEXIST"``) behind kmod's message, or "" when it names none."""
    tail = message.rsplit(": ", 1)[-1].strip()
    if tail in _KMOD_MESSAGES:
        return _KMOD_MESSAGES[tail]
    for code, name in errno.errorcode.items():
        if os.strerror(code) == tail:
            return name
    return ""


def load_error(
    vm: Guest, info: ModuleInfo, argv: list[str], report: HelperReport,
    symbol_sources: Sequence[Path],
) -> ModuleError:  # fmt: skip
    """The error for a refused insmod, its hint read from the errno and the log."""
    message = kmod_message("insmod", argv[1], report)
    errno_name = modop_errno_name(report)
    records = report.records
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
    elif report.outcome == "open":
        hint = f"insmod could not open {argv[1]} in the guest; the kernel never saw the module"
    elif errno_name == "ENOEXEC":
        hint = "the .ko does not match this kernel (was it built for another kernel?)"
    elif errno_name in ("EKEYREJECTED", "ENOKEY"):
        hint = (
            "the kernel refused the module's signature before running any of its code: "
            "it is unsigned or signed by a key the kernel does not trust, and signatures "
            "are enforced (module.sig_enforce, or lockdown under Secure Boot)"
        )
    elif errno_name:
        code = getattr(errno, errno_name, 0)
        hint = (
            f"the module's init function returned -{errno_name} ({-code}): "
            f"{os.strerror(code)}; the kernel did not keep it loaded"
        )
    return ModuleError(
        f"insmod {info.name} failed: {message}", module=info.name, errno_name=errno_name,
        hint=hint, output=_kmod_output("insmod", report, message), log=log,
    )  # fmt: skip


def unload_error(name: str, report: HelperReport) -> ModuleError:
    """The error for a refused rmmod: not loaded, in use, busy, or without an exit function."""
    message = kmod_message("rmmod", name, report)
    errno_name = modop_errno_name(report)
    hint = ""
    if report.state == "coming":
        hint = (
            f"{name} never finished loading: its init function did not return (an oops "
            "or a hang stopped it), so the kernel keeps it [Loading] and can never unload "
            "it in this boot. %vm restart gives a fresh kernel"
        )
    elif report.state == "going":
        hint = (
            f"{name} is [Unloading]: its exit function did not finish (an oops or a hang "
            "stopped it), so it can never be unloaded in this boot. %vm restart gives a "
            "fresh kernel"
        )
    elif report.value == "notloaded":
        hint = f"{name} is not loaded; %lsmod lists what is"
    elif report.value == "builtin":
        hint = f"{name} is built into the kernel: it was never loaded, so it cannot be unloaded"
    elif report.value in ("holders", "inuse"):
        hint = (
            "another module uses it (or a program holds it open); unload the users "
            "first, as the message lists"
        )
    elif errno_name == "EAGAIN":
        hint = "the module is busy; its use count is not zero"
    elif errno_name == "EBUSY":
        # the kernel never unloads a module that has no module_exit function
        hint = (
            f"the kernel will not unload {name}: a module without a module_exit "
            f"function cannot be unloaded. %rmmod --force {name} removes it anyway "
            "(and taints the kernel: R)"
        )
    return ModuleError(
        f"rmmod {name} failed: {message}", module=name, hint=hint,
        output=_kmod_output("rmmod", report, message),
        log=[r.message for r in report.records], errno_name=errno_name,
    )  # fmt: skip


def _kmod_output(tool: str, report: HelperReport, message: str) -> str:
    """What kmod's tool would have printed on its stderr (nothing when it was killed)."""
    return "" if report.outcome == "signal" else f"{tool}: ERROR: {message}\n"


def modprobe_error(
    name: str, remove: bool, result: ExecResult, records: list[LogRecord]
) -> ModuleError:
    """The error for a refused modprobe; the usual cause is a module it cannot find."""
    message = tool_message(result)
    hint = ""
    if "not found in directory" in message:
        hint = (
            f"modprobe finds modules only under /lib/modules/<release>; install {name} "
            "first (%%kmodule --install) so depmod indexes it"
        )
    return ModuleError(
        f"modprobe {'-r ' if remove else ''}{name} failed: {message}", module=name,
        hint=hint, output=result.stderr + result.stdout,
        log=[r.message for r in records], errno_name=errno_from_message(message),
    )  # fmt: skip


def modinfo_error(name: str, result: ExecResult) -> ModuleError:
    """The error for ``modinfo NAME`` in the guest, which knows only installed modules."""
    return ModuleError(
        f"modinfo {name}: {tool_message(result)}", module=name,
        hint="modinfo knows modules under /lib/modules; for your own builds use "
        "%%kmodule's card or install the module first",
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
    """The kernel's own Module.symvers, from the VM's bundle (or the current one).

    ``bundle`` is not part of the ``Guest`` protocol on purpose: a guest that has one
    (``LabVM``) names its kernel exactly; for any other, the current bundle answers.
    """
    from kernelmagic.machine.bundle import Bundle  # lazy: the bundle pulls in Debian tooling

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
