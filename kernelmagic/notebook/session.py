# SPDX-License-Identifier: MIT
"""The state of one Jupyter kernel: its lab VM, the learner's module sources and builds.

One :class:`LabSession` per kernel process (:func:`get_session`). The VM starts on
the first command that needs it and stops when the process exits; when it died (a
kernel panic ends QEMU, ``panic=-1``) the next command boots a fresh one and says so
in one line. Sources are kept per module as the cells gave them (``%%kfile`` cells,
then the ``%%kmodule`` cell), so diagnostics can point back at cell lines.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kernelmagic.errors import KernelCrashed, ModuleError
from kernelmagic.guest import kmod
from kernelmagic.guest.kernel_log import LogMark, LogRecord
from kernelmagic.guest.kmod import ModuleOperation
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.kbuild.builder import BuildResult, build_module
from kernelmagic.machine.console import CrashReport
from kernelmagic.machine.vm import LabVM, VMStatus
from kernelmagic.notebook.progress import BootProgress
from kernelmagic.notebook.views import CellSource, LoadResult, Notice

log = logging.getLogger(__name__)

__all__ = ["LabSession", "ModuleSources", "get_session", "set_session"]

#: A guess for the first boot's progress bar; later bars use the last boot time.
FIRST_BOOT_GUESS = 3.0
SHUTDOWN_TIMEOUT = 3.0


@dataclass
class ModuleSources:
    """The files of one module, by file name, each remembering its cell."""

    files: dict[str, CellSource] = field(default_factory=dict)
    cflags: str = ""

    def texts(self) -> dict[str, str]:
        return {name: f.text for name, f in self.files.items()}


def _show(obj: object) -> None:
    from IPython.display import display

    display(obj)


class LabSession:
    """One kernel's lab: the VM (lazily), sources and builds, load marks for ``%dmesg``."""

    def __init__(
        self,
        vm_factory: Callable[[], Any] = LabVM,
        *,
        builder: Callable[..., BuildResult] = build_module,
        show: Callable[[object], None] = _show,
        progress: bool | None = None,
    ) -> None:
        self._vm_factory = vm_factory
        self._builder = builder
        self.show = show
        self._progress = progress
        self._vm: Any = None
        self._last_boot: float | None = None
        self._crash_title: str | None = None
        self._stopped_on_purpose = True  # nothing to announce before the first start
        #: How many times a VM booted, and the console position once the last one was up:
        #: a command that booted the VM looks for its crashes from there.
        self.boots = 0
        self.boot_mark: int | None = None
        self.modules: dict[str, ModuleSources] = {}
        self.builds: dict[str, BuildResult] = {}
        self.load_marks: dict[str, LogMark] = {}

    # -- the VM ---------------------------------------------------------------------

    @property
    def vm(self) -> Any:
        """The running lab VM, started (or restarted after a crash) on first need."""
        if self._vm is not None and self._vm.is_running():
            return self._vm
        if self._crash_title is not None:
            what = f"lab VM restarted after the kernel crash ({self._crash_title}): ready"
        elif not self._stopped_on_purpose:
            what = "lab VM restarted (the previous one had stopped): ready"
        else:
            what = "lab VM ready"
        self.show(self._boot(what))
        return self._vm

    @property
    def running_vm(self) -> Any | None:
        """The VM if it runs now; never starts one."""
        return self._vm if self._vm is not None and self._vm.is_running() else None

    @property
    def last_vm(self) -> Any | None:
        """The VM object, running or not (its console survives a crash for ``%vm log``)."""
        return self._vm

    def _boot(self, what: str) -> Notice:
        if self._vm is None:
            self._vm = self._vm_factory()
        vm = self._vm
        expected = self._last_boot or FIRST_BOOT_GUESS
        with BootProgress("booting the lab VM", expected, lambda: _boot_stage(vm),
                          enabled=self._progress):  # fmt: skip
            try:
                vm.start()
                # What a learner inspects first (lsmod, dmesg) must not depend on how far
                # the guest's background start-up has got.
                settle = getattr(vm, "wait_settled", None)
                if settle is not None:
                    settle()
            except BaseException:
                # Ctrl-C or a failed boot: never leave a half-started QEMU behind.
                with contextlib.suppress(Exception):
                    vm.kill()
                raise
        self._crash_title = None
        self._stopped_on_purpose = False
        self.load_marks.clear()
        self._last_boot = vm.boot_seconds
        self.boots += 1
        self.boot_mark = self.console_mark()
        accel = vm.accel.accel if vm.accel else "?"
        return Notice(f"{what} in {vm.boot_seconds or 0:.1f} s ({accel})")

    def idle_status(self) -> VMStatus:
        """The status of a VM that is not running, without starting it."""
        if self._vm is None:
            self._vm = self._vm_factory()  # the constructor only configures
        return self._vm.status()

    def start(self) -> Notice:
        vm = self.running_vm
        if vm is not None:
            status = vm.status()
            up = f", up {status.uptime_seconds:.0f} s" if status.uptime_seconds else ""
            return Notice(f"lab VM already running ({status.accel}{up})")
        return self._boot("lab VM ready")

    def stop(self) -> Notice:
        self._stopped_on_purpose = True
        self._crash_title = None
        self.load_marks.clear()
        if self.running_vm is None:
            return Notice("lab VM is not running")
        self._vm.stop()
        return Notice("lab VM stopped; the next command that needs it starts it again")

    def restart(self) -> Notice:
        """A fresh kernel: everything loaded or installed in the guest is gone."""
        self.stop()
        return self._boot("lab VM restarted with a fresh kernel: ready")

    def note_crash(self, exc: KernelCrashed, mark: int | None = None) -> CrashReport | None:
        """A crash ended the guest: keep its report, stop QEMU, restart on next use.

        The report is the first crash after ``mark`` (the console position when the
        command began): a panic that follows an oops is merged into the oops's report.
        """
        vm = self._vm
        report = None
        if vm is not None:
            with contextlib.suppress(Exception):
                recent = vm.console.crashes_since(mark) if mark is not None else []
                crashes = vm.console.crashes
                report = (recent or crashes[-1:] or [vm.crash])[0]
            with contextlib.suppress(Exception):
                vm.kill()
        self._crash_title = report.title if report else str(exc).split(": ", 1)[-1]
        self.load_marks.clear()
        return report

    def console_mark(self) -> int | None:
        vm = self.running_vm
        if vm is None:
            return None
        with contextlib.suppress(Exception):
            return int(vm.console.mark())
        return None

    def crashes_since(self, mark: int | None, wait: float = 0.0) -> list[CrashReport]:
        """Crash reports (oopses the kernel survived, too) that began after ``mark``."""
        vm = self._vm
        if vm is None or mark is None:
            return []
        deadline = time.monotonic() + wait
        while True:
            try:
                found = list(vm.console.crashes_since(mark))
            except Exception:
                return []
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def shutdown(self) -> None:
        """Stop the VM (at interpreter exit, or when the extension is unloaded)."""
        vm = self._vm
        if vm is not None:
            with contextlib.suppress(Exception):
                vm.stop(timeout=SHUTDOWN_TIMEOUT)
        self._stopped_on_purpose = True

    # -- sources and builds ---------------------------------------------------------

    def sources(self, name: str) -> ModuleSources:
        return self.modules.setdefault(name, ModuleSources())

    def add_file(self, name: str, filename: str, text: str) -> None:
        self.sources(name).files[filename] = CellSource(text, f"%%kfile {name}/{filename}")

    def remove_file(self, name: str, filename: str) -> bool:
        return self.sources(name).files.pop(filename, None) is not None

    def set_main(self, name: str, text: str) -> str:
        """Record the ``%%kmodule`` cell; returns the file name it is built as.

        kbuild links several .c files into NAME.o, so with ``%%kfile`` .c files beside
        it the cell cannot be NAME.c; it becomes NAME_main.c.
        """
        files = self.sources(name).files
        for filename in [f for f, src in files.items() if src.main]:
            del files[filename]
        others = [f for f in files if f.endswith(".c")]
        filename = f"{name}_main.c" if others else f"{name}.c"
        if filename in files:
            raise ValueError(
                f"%%kfile {name}/{filename} clashes with the %%kmodule cell, which is built "
                f"as {filename}; rename that file"
            )
        files[filename] = CellSource(text, f"%%kmodule {name}", main=True)
        return filename

    def build(self, name: str, *, cflags: str = "") -> BuildResult:
        """Build NAME from its cells, with the symbols of the other modules built here."""
        extra = [
            b.build_dir for other, b in sorted(self.builds.items())
            if other != name and _exports_symbols(b)
        ]  # fmt: skip
        self.sources(name).cflags = cflags
        result = self._builder(name, self.sources(name).texts(), cflags=cflags,
                               extra_symbols=extra)  # fmt: skip
        self.builds[name] = result
        return result

    def last_build(self, name: str) -> BuildResult:
        try:
            return self.builds[name]
        except KeyError:
            raise ModuleError(
                f"no build of {name} in this notebook yet",
                module=name,
                hint=f"run the %%kmodule {name} cell first; for the kernel's own modules "
                f"use %modprobe {name}",
            ) from None

    # -- loading --------------------------------------------------------------------

    def load(
        self,
        name: str,
        params: Sequence[str] | Mapping[str, object] = (),
        *,
        reload: bool = False,
        force: bool = False,
    ) -> LoadResult:
        """insmod the last build of NAME; with ``reload``, rmmod a loaded copy first."""
        built = self.last_build(name)
        info = read_modinfo(built.ko_path)
        vm = self.vm
        before: list[LogRecord] = []
        outcome = None
        if reload and kmod.is_loaded(vm, info.name):
            before = kmod.rmmod(vm, info.name, force=force).log
            outcome = f"{info.name} reloaded (the loaded copy was unloaded first)"
        mark = kmod.log_mark(vm)
        symvers = [
            b.build_dir / "Module.symvers" for other, b in sorted(self.builds.items())
            if other != name
        ]  # fmt: skip
        op = kmod.insmod(vm, built.ko_path, params, info=info, symbol_sources=symvers)
        self.load_marks[info.name] = mark  # only a load that worked moves the mark
        merged = ModuleOperation(op.action, op.module, op.argv, before + op.log, op.duration)
        return LoadResult(merged, outcome=outcome)

    def unload(self, name: str, *, force: bool = False) -> LoadResult:
        return LoadResult(kmod.rmmod(self.vm, name, force=force))

    def modprobe(
        self, name: str, params: Sequence[str] = (), *, remove: bool = False
    ) -> LoadResult:
        vm = self.vm
        before = {m.name for m in kmod.lsmod(vm)}
        mark = kmod.log_mark(vm)
        op = kmod.modprobe(vm, name, params, remove=remove)
        after_list = [m.name for m in kmod.lsmod(vm)]
        after = set(after_list)
        loaded = [m for m in reversed(after_list) if m not in before]  # in load order
        for module in loaded:
            self.load_marks[module] = mark
        removed = sorted(before - after)
        return LoadResult(op, loaded=loaded, removed=removed)


def _exports_symbols(result: BuildResult) -> bool:
    symvers = result.build_dir / "Module.symvers"
    try:
        return symvers.stat().st_size > 0
    except OSError:
        return False


def _boot_stage(vm: Any) -> str:
    """What the boot is waiting for, read from the console (for the progress label)."""
    try:
        text = vm.console.text()
    except Exception:
        return "starting QEMU"
    if "kernelmagic: init started" in text:
        return "waiting for the guest agent"
    return "kernel booting" if text else "starting QEMU"


_session: LabSession | None = None


def get_session() -> LabSession:
    """This process's session, created on first use; its VM stops at interpreter exit."""
    global _session
    if _session is None:
        _session = LabSession()
        atexit.register(_session.shutdown)
    return _session


def set_session(session: LabSession | None) -> LabSession | None:
    """Replace the process's session (tests, or a lesson wanting its own); returns the old."""
    global _session
    old, _session = _session, session
    if session is not None:
        atexit.register(session.shutdown)
    return old
