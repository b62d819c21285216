# SPDX-License-Identifier: MIT
"""Test doubles for the magics: a lab VM that simulates a small kernel, and a fake kbuild.

:class:`FakeLabVM` answers the argv that ``kmod`` and the magics send (insmod, rmmod,
modprobe, cat of /proc and /sys files, the kernel-log helper, ``sh -c``) from a little
model of a kernel: loaded modules, their parameters, a log with levels and timestamps.
Its insmod joins the parameters with spaces and splits them again the way the kernel's
parameter parser does (spaces split unless inside double quotes), so the quoting of
``%insmod`` is tested end to end; insmod and rmmod arrive as the guest helper's commands
(``fake_modop.py``), and a module named in ``stuck`` never returns from its init or exit.
:class:`FakeBuilder` stands in for kbuild: it writes a
real ELF ``.ko`` whose ``.modinfo`` section holds what the C source's ``MODULE_*`` and
``module_param`` lines say, so module cards read real metadata.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernelmagic.errors import BuildError, GuestCommandError, KernelCrashed, VMNotRunning
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.accel import AccelChoice
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.vm import VMStatus
from tests.doubles.fake_modop import HelperGuest, logical_argv
from tests.doubles.shell_lab import ShellLab, shell_with

if TYPE_CHECKING:  # the workspace's tests use these doubles without the notebook layer
    pass

RELEASE = "6.1.0-56-amd64"


# -- a .ko with a .modinfo section --------------------------------------------------------


def write_ko(path: Path, strings: Sequence[str]) -> None:
    """A minimal little-endian ELF64 file whose .modinfo holds ``strings``."""
    modinfo = b"".join(s.encode() + b"\0" for s in strings)
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    off_mod = 64
    off_shs = off_mod + len(modinfo)
    shoff = (off_shs + len(shstrtab) + 7) & ~7
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)
    body = bytes(header) + modinfo + shstrtab
    body += b"\0" * (shoff - len(body))
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, off_mod, len(modinfo), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, off_shs, len(shstrtab), 0, 0, 1, 0),
    ]
    path.write_bytes(body + b"".join(sections))


def modinfo_from_source(name: str, text: str) -> list[str]:
    """What modpost would put in .modinfo for the MODULE_* lines of ``text``."""
    strings = [f"name={name}", f"vermagic={RELEASE} SMP preempt mod_unload modversions"]
    for key, value in re.findall(r'MODULE_(LICENSE|DESCRIPTION|AUTHOR|VERSION)\("([^"]*)"\)', text):
        strings.append(f"{key.lower()}={value}")
    for pname, ptype in re.findall(r"module_param\((\w+),\s*(\w+)", text):
        strings.append(f"parmtype={pname}:{ptype}")
    for pname, desc in re.findall(r'MODULE_PARM_DESC\((\w+),\s*"([^"]*)"\)', text):
        strings.append(f"parm={pname}:{desc}")
    return strings


class FakeBuilder:
    """Stands in for ``build_module`` (kbuild); ``fail`` makes the next builds fail."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[dict[str, Any]] = []
        self.fail: BuildError | None = None
        self.diagnostics: list[Diagnostic] = []
        self.exports: dict[str, str] = {}  # module -> symbol it exports

    def __call__(
        self,
        name: str,
        sources: dict[str, str],
        *,
        cflags: str = "",
        extra_symbols: Sequence[Path] = (),
    ) -> BuildResult:
        self.calls.append(
            {"name": name, "sources": dict(sources), "cflags": cflags,
             "extra_symbols": list(extra_symbols)}
        )  # fmt: skip
        if self.fail is not None:
            raise self.fail
        key = hashlib.sha256(repr(sorted(sources.items())).encode() + cflags.encode()).hexdigest()
        build_dir = self.root / f"{name}-{key[:16]}"
        build_dir.mkdir(parents=True, exist_ok=True)
        text = "\n".join(sources.values())
        ko = build_dir / f"{name}.ko"
        cached = ko.exists()
        write_ko(ko, modinfo_from_source(name, text))
        symvers = ""
        if name in self.exports:
            symvers = f"0x1234\t{self.exports[name]}\t{build_dir}/{name}\tEXPORT_SYMBOL\t\n"
        (build_dir / "Module.symvers").write_text(symvers)
        return BuildResult(
            name=name, ko_path=ko, build_dir=build_dir, diagnostics=list(self.diagnostics),
            log="", duration=0.84, cached=cached, key=key, kernel_release=RELEASE,
        )  # fmt: skip


# -- a guest kernel model -----------------------------------------------------------------


@dataclass
class Module:
    name: str
    size: int = 16384
    params: dict[str, str] = field(default_factory=dict)
    used_by: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


#: What a module's init does: (params) -> (negative errno or 0, messages to log).
InitBehaviour = Callable[[dict[str, str]], tuple[int, list[str]]]


def kernel_split(args: str) -> list[tuple[str, str]]:
    """The kernel's ``next_arg``: split on spaces except inside double quotes."""
    out: list[tuple[str, str]] = []
    for raw in re.findall(r'(?:[^\s"]|"[^"]*")+', args):
        key, _, value = raw.partition("=")
        if value.startswith('"'):
            value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
        out.append((key, value))
    return out


class FakeConsole:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._crashes: list[CrashReport] = []
        self.warnings: list[CrashReport] = []

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def tail(self, n: int) -> list[str]:
        return self.lines[-n:]

    def mark(self) -> int:
        return len(self.text())

    def quiet_mark(self) -> int:
        return self.mark()  # the fake's reports arrive whole

    def add_crash(self, kind: str, title: str, report: str, **kw: Any) -> CrashReport:
        crash = CrashReport(kind, title, report, position=self.mark(), **kw)
        self.lines += report.splitlines()
        (self.warnings if kind == "warning" else self._crashes).append(crash)
        return crash

    @property
    def crashes(self) -> list[CrashReport]:
        return list(self._crashes)

    def crashes_since(self, mark: int) -> list[CrashReport]:
        return [c for c in self._crashes if c.position >= mark]


class FakeLabVM(HelperGuest):
    """A LabVM look-alike over a simulated kernel; ``calls`` records every argv."""

    def __init__(self, share: Path) -> None:
        self.share = share
        self.calls: list[list[str]] = []
        self.starts = 0
        self.running = False
        self.accel: AccelChoice | None = None
        self.boot_seconds: float | None = None
        self.console_obj: FakeConsole | None = None
        self.behaviour: dict[str, InitBehaviour] = {}
        self.shell: Callable[[str], ExecResult] = lambda text: ExecResult(0, f"ran: {text}\n")
        self.exports: dict[str, str] = {}  # symbol -> module that exports it
        self.needs: dict[str, str] = {}  # module -> symbol it needs
        self.on_exec: Callable[[list[str]], None] | None = None  # raise from here to test
        #: module -> /proc/PID/stack lines: its init and exit never return.
        self.stuck: dict[str, list[str]] = {}
        self._spawned: dict[int, ExecResult | None] = {}
        self.configs: list[Any] = []  # each MachineConfig the session made a VM of
        self._boot()

    def _boot(self) -> None:
        self.modules: dict[str, Module] = {"virtio_ring": Module("virtio_ring", 49152)}
        self.installed: dict[str, str] = {}
        self.log: list[tuple[int, float, str]] = []
        self.clock = 1.0
        self.taint = 0

    # -- lifecycle like LabVM --------------------------------------------------------

    def start(self) -> None:
        if self.running:
            return
        self.starts += 1
        self._boot()
        self.running = True
        self.console_obj = FakeConsole()
        self.console_obj.lines.append("kernelmagic: init started")
        self.accel = AccelChoice("tcg", "no /dev/kvm on this host; using TCG")
        self.boot_seconds = 1.43
        self.printk(6, "kernelmagic: init started")

    def stop(self, timeout: float = 5.0) -> None:
        self.running = False

    def kill(self) -> None:
        self.running = False

    def is_running(self) -> bool:
        return self.running

    @property
    def console(self) -> FakeConsole:
        if self.console_obj is None:
            raise VMNotRunning("the lab VM is not running")
        return self.console_obj

    @property
    def crash(self) -> CrashReport | None:
        crashes = self.console_obj.crashes if self.console_obj else []
        return crashes[0] if crashes else None

    def wait_settled(self) -> None:
        pass

    def status(self) -> VMStatus:
        return VMStatus(
            running=self.running, accel=self.accel.accel if self.accel else "",
            accel_reason=self.accel.reason if self.accel else "", kernel_release=RELEASE,
            boot_seconds=self.boot_seconds, uptime_seconds=12.0 if self.running else None,
            pid=4242 if self.running else None, runtime_dir=None,
        )  # fmt: skip

    def guest_path(self, host_path: Path) -> str:
        return "/mnt/host/" + Path(host_path).resolve().relative_to(self.share).as_posix()

    def crash_now(self, title: str = "Kernel panic - not syncing: boom", **kw: Any) -> None:
        """The kernel dies: the console shows the report, QEMU is gone."""
        self.console.add_crash("panic", title, f"{title}\nCPU: 0 PID: 85 Comm: insmod", **kw)
        self.running = False
        raise KernelCrashed(f"the lab VM's kernel crashed: {title}", title)

    # -- the kernel log ----------------------------------------------------------------

    def printk(self, level: int, message: str) -> None:
        self.clock += 0.25
        self.log.append((level, self.clock, message))
        if self.console_obj is not None:
            self.console_obj.lines.append(f"[{self.clock:12.6f}] {message}")

    def _raw(self, records: Sequence[tuple[int, float, str]]) -> str:
        return "".join(f"<{lv}>[{ts:12.6f}] {msg}\n" for lv, ts, msg in records)

    # -- exec ----------------------------------------------------------------------------

    def exec(
        self, argv: Sequence[str], *, timeout: float = 30.0, input: bytes | None = None,
        check: bool = False,
    ) -> ExecResult:  # fmt: skip
        argv = [str(a) for a in argv]
        if not self.running:
            raise VMNotRunning("the lab VM is not running")
        self.calls.append(argv)
        if self.on_exec is not None:
            # The helper's insmod and rmmod are shown to tests as the tools' own argv.
            self.on_exec(logical_argv(argv))
        result = self._dispatch(argv)
        if check and result.exit_code != 0:
            raise GuestCommandError(argv, result.exit_code, result.stdout, result.stderr)
        return result

    def _dispatch(self, argv: list[str]) -> ExecResult:
        tool, args = Path(argv[0]).name, argv[1:]
        if tool == "kernelmagic-modop":
            return self._modop(args)
        handler = getattr(self, f"_do_{tool.replace('-', '_')}", None)
        if handler is None:
            return ExecResult(127, "", f"{tool}: not found\n")
        return handler(args)

    def _do_kernelmagic_kernel_log(self, args: list[str]) -> ExecResult:
        if args[0] == "mark":
            if not self.log:
                return ExecResult(0, "-1 0\n")
            last = self.log[-1][1]
            return ExecResult(0, f"{last:.6f} {sum(1 for r in self.log if r[1] == last)}\n")
        if args[0] == "after":
            ts, n = float(args[1]), int(args[2])
            seen, out = 0, []
            for record in self.log:
                if record[1] > ts:
                    out.append(record)
                elif record[1] == ts:
                    seen += 1
                    if seen > n:
                        out.append(record)
            return ExecResult(0, self._raw(out))
        return ExecResult(0, self._raw(self.log[-int(args[1]) :]))

    def _do_dmesg(self, args: list[str]) -> ExecResult:
        out = self._raw(self.log)
        if "-c" in args:
            self.log.clear()
        return ExecResult(0, out)

    def _do_insmod(self, args: list[str]) -> ExecResult:
        ko = self.share / args[0].removeprefix("/mnt/host/")
        info = read_modinfo(ko)
        name = info.name
        fail = f"insmod: ERROR: could not insert module {args[0]}: "
        if name in self.modules:
            return ExecResult(1, "", fail + "File exists\n")
        needed = self.needs.get(name)
        if needed and self.exports.get(needed) not in self.modules:
            self.printk(4, f"{name}: Unknown symbol {needed} (err -2)")
            return ExecResult(1, "", fail + "Unknown symbol in module\n")
        params: dict[str, str] = {}
        for key, value in kernel_split(" ".join(args[1:])):
            param = info.param(key)
            if param is None:
                self.printk(4, f"{name}: unknown parameter '{key}' ignored")
                continue
            if param.type == "int" and not re.fullmatch(r"-?\d+", value):
                self.printk(4, f"{name}: '{value}' invalid for parameter '{key}'")
                return ExecResult(1, "", fail + "Invalid parameters\n")
            params[key] = value
        if not self.taint & (1 << 12):
            self.printk(4, f"{name}: loading out-of-tree module taints kernel.")
            self.taint |= 1 << 12 | 1 << 13
        code, messages = self.behaviour.get(name, lambda p: (0, []))(params)
        for message in messages:
            self.printk(6, message)
        if code:
            text = {-12: "Cannot allocate memory", -19: "No such device"}.get(code, "Error")
            return ExecResult(1, "", fail + text + "\n")
        module = Module(name, params=params)
        if needed:
            provider = self.exports[needed]
            self.modules[provider].used_by.append(name)
            module.uses.append(provider)
        self.modules = {name: module, **self.modules}
        return ExecResult(0)

    def _do_rmmod(self, args: list[str]) -> ExecResult:
        force = "-f" in args
        name = next(a for a in args if a != "-f")
        module = self.modules.get(name)
        if module is None:
            return ExecResult(1, "", f"rmmod: ERROR: Module {name} is not currently loaded\n")
        if module.used_by and not force:
            users = ",".join(module.used_by)
            return ExecResult(1, "", f"rmmod: ERROR: Module {name} is in use by: {users}\n")
        self.printk(6, f"{name}: exit")
        del self.modules[name]
        for provider in module.uses:
            self.modules[provider].used_by.remove(name)
        return ExecResult(0)

    def _do_modprobe(self, args: list[str]) -> ExecResult:
        remove = "-r" in args
        name = next(a for a in args if a != "-r")
        if remove:
            for mod in [name, *self.modules.get(name, Module(name)).uses]:
                self.modules.pop(mod, None)
            return ExecResult(0)
        if name not in self.installed:
            return ExecResult(1, "", f"modprobe: FATAL: Module {name} not found in directory "
                                     f"/lib/modules/{RELEASE}\n")  # fmt: skip
        needed = self.needs.get(name)
        order = [self.exports[needed], name] if needed else [name]
        for mod in order:
            if mod not in self.modules:
                self.modules = {mod: Module(mod), **self.modules}
                self.printk(6, f"{mod}: loaded by modprobe")
        if needed:
            self.modules[order[0]].used_by.append(name)
            self.modules[name].uses.append(order[0])
        return ExecResult(0)

    def _do_cat(self, args: list[str]) -> ExecResult:
        out = []
        for path in args:
            if path == "/proc/modules":
                for m in self.modules.values():
                    used = ",".join(m.used_by) + "," if m.used_by else "-"
                    out.append(f"{m.name} {m.size} {len(m.used_by)} {used} Live 0x0 (OE)\n")
            elif path == "/proc/sys/kernel/osrelease":
                out.append(RELEASE + "\n")
            elif path == "/proc/sys/kernel/tainted":
                out.append(f"{self.taint}\n")
            elif path == "/proc/uptime":
                out.append("12.34 10.00\n")
            elif path == "/proc/meminfo":
                out.append("MemTotal:         210880 kB\nMemFree:  164140 kB\n")
                out.append("MemAvailable:     167784 kB\n")
            elif m := re.fullmatch(r"/sys/module/(\w+)/parameters/(\w+)", path):
                module = self.modules.get(m[1])
                if module is None or m[2] not in module.params:
                    return ExecResult(1, "", f"cat: can't open '{path}': No such file\n")
                out.append(module.params[m[2]] + "\n")
            else:
                return ExecResult(1, "", f"cat: can't open '{path}': No such file\n")
        return ExecResult(0, "".join(out))

    def _do_env(self, args: list[str]) -> ExecResult:
        while args and "=" in args[0]:  # NAME=VALUE settings, then the command
            args = args[1:]
        return self._dispatch(args)

    def _do_sh(self, args: list[str]) -> ExecResult:
        assert args[0] == "-c"
        return self.shell(args[1])

    def _do_uname(self, args: list[str]) -> ExecResult:
        return ExecResult(0, RELEASE + "\n")

    def _do_mkdir(self, args: list[str]) -> ExecResult:
        return ExecResult(0)

    def _do_cp(self, args: list[str]) -> ExecResult:
        self.installed[Path(args[1]).stem] = args[1]
        return ExecResult(0)

    def _do_depmod(self, args: list[str]) -> ExecResult:
        return ExecResult(0)

    def _do_modinfo(self, args: list[str]) -> ExecResult:
        if args[0] != "bridge":
            return ExecResult(1, "", f"modinfo: ERROR: Module {args[0]} not found.\n")
        return ExecResult(0, (
            f"filename:       /lib/modules/{RELEASE}/kernel/net/bridge/bridge.ko\n"
            "license:        GPL\ndepends:        stp,llc\nintree:         Y\n"
            f"vermagic:       {RELEASE} SMP preempt mod_unload modversions\n"
        ))  # fmt: skip


@dataclass
class Lab(ShellLab):
    """The shell harness over a fake VM and a fake kbuild."""

    vm: FakeLabVM = field(kw_only=True)
    builder: FakeBuilder = field(kw_only=True)


def make_lab(home: Path) -> Lab:
    """Needs KERNELMAGIC_HOME pointing at ``home`` (kmod looks for exporters there)."""
    from kernelmagic.notebook.session import LabSession

    builds = home / "builds"
    builds.mkdir(parents=True, exist_ok=True)
    vm = FakeLabVM(builds.resolve())
    builder = FakeBuilder(builds)
    shown: list[Any] = []

    def make_vm(config: Any) -> FakeLabVM:
        vm.configs.append(config)
        return vm

    session = LabSession(make_vm, builder=builder, show=shown.append, progress=False)
    return Lab(shell_with(session), session, shown, vm=vm, builder=builder)
