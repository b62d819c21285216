# SPDX-License-Identifier: MIT
"""One Jupyter kernel's lab: its VM, booted on first need, and its workspace.

One :class:`LabSession` per kernel process (:func:`get_session`). The modules, builds
and loads live in a :class:`~kernelmagic.workspace.Workspace`; the session adds what a
notebook needs on top: the VM starts on the first command that needs it, with a
progress bar, and stops when the process exits; when it died (a kernel panic ends
QEMU, ``panic=-1``) the next command boots a fresh one and says so in one line. The
session keeps the console positions that tell which crash a command caused, and which
reports came after a command had returned (a timer's oops), for the next command to
show. It decodes reports with the notebook's own builds and cells (:meth:`explain`),
and remembers what it is doing, so that an interrupted cell can say what it left.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from kernelmagic.errors import KernelCrashed, VMNotRunning
from kernelmagic.guest.faults import Fault, Frame
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.config import MachineConfig
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.vm import LabVM, VMStatus
from kernelmagic.notebook.progress import BootProgress
from kernelmagic.notebook.views import LoadResult, Notice
from kernelmagic.workspace import Builder, LabMachine, Workspace, set_current

log = logging.getLogger(__name__)

__all__ = ["LabSession", "get_session", "set_session"]

#: A guess for the first boot's progress bar; later bars use the last boot time.
FIRST_BOOT_GUESS = 3.0
SHUTDOWN_TIMEOUT = 3.0
BOOT_LEFT = "the half-started lab VM was stopped; the next command boots it again"


def _show(obj: object) -> None:
    from IPython.display import display

    display(obj)


class LabSession:
    """One kernel's lab: the VM (lazily), the workspace, and what the learner is told."""

    def __init__(
        self,
        vm_factory: Callable[[MachineConfig], LabMachine] = LabVM.of,
        *,
        builder: Builder | None = None,
        show: Callable[[object], None] = _show,
        progress: bool | None = None,
    ) -> None:
        self._vm_factory = vm_factory
        #: The machine the next boot gets (:meth:`configure` changes it).
        self.config = MachineConfig()
        self.show = show
        self._progress = progress
        self._vm: LabMachine | None = None
        self._last_boot: float | None = None
        self._crash_title: str | None = None
        self._stopped_on_purpose = True  # nothing to announce before the first start
        #: How many times a VM booted, and the console position once the last one was up:
        #: a command that booted the VM looks for its crashes from there.
        self.boots = 0
        self.boot_mark: int | None = None
        #: Where the console stood when the last command ended: reports after it came
        #: while no cell ran, and the next command shows them (see :meth:`late_reports`).
        self.seen_mark: int | None = None
        #: What the current command is doing ("booting the lab VM", "insmod hello"),
        #: and what an interrupt stopped (the innermost activity it went through).
        self.activities: list[tuple[str, str]] = []
        self.stopped: tuple[str, str] | None = None
        self.workspace = Workspace(lambda: self.vm, builder=builder)

    # -- the VM ---------------------------------------------------------------------

    @property
    def vm(self) -> LabMachine:
        """The running lab VM, started (or restarted after a crash) on first need."""
        if self._vm is not None and self._vm.is_running():
            return self._vm
        if self._crash_title is not None:
            what = f"lab VM restarted after the kernel crash ({self._crash_title}): ready"
        elif not self._stopped_on_purpose:
            what = "lab VM restarted (the previous one had stopped): ready"
        else:
            what = "lab VM ready"
        notice, vm = self._boot(what)
        self.show(notice)
        return vm

    @property
    def running_vm(self) -> LabMachine | None:
        """The VM if it runs now; never starts one."""
        return self._vm if self._vm is not None and self._vm.is_running() else None

    @property
    def last_vm(self) -> LabMachine | None:
        """The VM object, running or not (its console survives a crash for ``%vm log``)."""
        return self._vm

    def _boot(self, what: str, *, say_machine: bool = True) -> tuple[Notice, LabMachine]:
        if self._vm is None:
            self._vm = self._vm_factory(self.config)
        vm = self._vm
        expected = self._last_boot or FIRST_BOOT_GUESS
        doing = self.doing("booting the lab VM", BOOT_LEFT)
        progress = BootProgress("booting the lab VM", expected, lambda: _boot_stage(vm),
                                enabled=self._progress)  # fmt: skip
        with doing, progress:
            try:
                vm.start()
                # What a learner inspects first (lsmod, dmesg) must not depend on how far
                # the guest's background start-up has got.
                vm.wait_settled()
            except BaseException:
                # Ctrl-C or a failed boot: never leave a half-started QEMU behind. The
                # boot's error is what the learner must see, so a failing kill only logs.
                try:
                    vm.kill()
                except Exception:
                    log.exception("could not kill the lab VM after a failed boot")
                raise
        self._crash_title = None
        self._stopped_on_purpose = False
        self.workspace.forget_loads()
        self._last_boot = vm.boot_seconds
        self.boots += 1
        self.boot_mark = self.console_mark()
        accel = vm.accel.accel if vm.accel else "?"
        unusual = say_machine and self.config != MachineConfig()
        machine = f"; {self.config.describe()}" if unusual else ""
        return Notice(f"{what} in {vm.boot_seconds or 0:.1f} s ({accel}){machine}"), vm

    def configure(
        self,
        *,
        cpus: int | None = None,
        memory_mb: int | None = None,
        devices: Iterable[str] | None = None,
    ) -> Notice | None:
        """Change the machine of the next boot; a running VM is restarted with it.

        ``None`` keeps a value; ``devices=()`` (or ``["none"]``) removes the extra
        devices. A lesson's first cell may call this through :func:`get_session`::

            get_session().configure(devices=["edu"])

        Returns the restart's notice, or None when nothing had to restart.
        """
        new = self.config.with_changes(cpus=cpus, memory_mb=memory_mb, devices=devices)
        if new == self.config:
            return None
        old, self.config = self.config, new
        vm, self._vm = self._vm, None
        if vm is None or not vm.is_running():
            return None
        self.workspace.forget_loads()
        self._stopped_on_purpose = True
        vm.stop()
        what = f"lab VM restarted as {new.describe()} (was {old.describe()}): ready"
        return self._boot(what, say_machine=False)[0]

    def idle_status(self) -> VMStatus:
        """The status of a VM that is not running, without starting it."""
        if self._vm is None:
            self._vm = self._vm_factory(self.config)  # the constructor only configures
        return self._vm.status()

    def start(self) -> Notice:
        vm = self.running_vm
        if vm is not None:
            status = vm.status()
            up = f", up {status.uptime_seconds:.0f} s" if status.uptime_seconds else ""
            return Notice(f"lab VM already running ({status.accel}{up})")
        return self._boot("lab VM ready")[0]

    def stop(self) -> Notice:
        self._stopped_on_purpose = True
        self._crash_title = None
        self.workspace.forget_loads()
        vm = self.running_vm
        if vm is None:
            return Notice("lab VM is not running")
        vm.stop()
        return Notice("lab VM stopped; the next command that needs it starts it again")

    def restart(self) -> Notice:
        """A fresh kernel: everything loaded or installed in the guest is gone."""
        self.stop()
        return self._boot("lab VM restarted with a fresh kernel: ready")[0]

    def note_crash(self, exc: KernelCrashed, mark: int | None = None) -> CrashReport | None:
        """A crash ended the guest: keep its report, stop QEMU, restart on next use.

        The report is the one the error carries, else the first crash after ``mark``
        (the console position when the command began): a panic that follows an oops is
        merged into the oops's report.
        """
        vm = self._vm
        report = exc.crash if isinstance(exc.crash, CrashReport) else None
        if vm is not None:
            # A console that is already gone (VMNotRunning) has no report to add.
            with contextlib.suppress(VMNotRunning):
                recent = vm.console.crashes_since(mark) if mark is not None else []
                crashes = vm.console.crashes
                report = report or (recent or crashes[-1:] or [vm.crash])[0]
            vm.kill()
        self._crash_title = report.title if report else str(exc).split(": ", 1)[-1]
        self.workspace.forget_loads()
        return report

    def note_dead(self, report: CrashReport) -> None:
        """The VM died of ``report`` while no cell ran: the next boot says why."""
        self._crash_title = report.title
        self.workspace.forget_loads()

    # -- what the learner sees of reports ---------------------------------------------

    def explain(self, report: CrashReport) -> Fault:
        """The report in plain words, its module frames decoded to this notebook's cells."""
        return self.workspace.explain(report)

    def explain_stack(self, stack: Sequence[str]) -> tuple[Frame, ...]:
        return self.workspace.explain_stack(stack)

    def mark_seen(self) -> None:
        """A command ended: what the console holds so far has been shown (or belonged to it)."""
        vm = self._vm
        if vm is None:
            return
        with contextlib.suppress(VMNotRunning):
            self.seen_mark = int(vm.console.quiet_mark())

    def late_reports(self) -> list[CrashReport]:
        """Reports (crashes, then warnings) that came after the last command had ended.

        A timer or a work item runs after its cell returned; its oops is news for the
        next command. The VM may have died of it (a panic): its console still tells.
        """
        vm, mark = self._vm, self.seen_mark
        if vm is None or mark is None:
            return []
        try:
            console = vm.console
            found = list(console.crashes_since(mark))
            found += [w for w in getattr(console, "warnings", []) if w.position >= mark]
        except VMNotRunning:
            return []
        self.mark_seen()
        return sorted(found, key=lambda r: r.position)

    @contextlib.contextmanager
    def doing(self, what: str, left: str = "") -> Iterator[None]:
        """Say what the command does now; ``left`` is what an interrupt would leave behind."""
        self.activities.append((what, left))
        try:
            yield
        except KeyboardInterrupt:
            if self.stopped is None:  # the innermost activity says it best
                self.stopped = (what, left)
            raise
        finally:
            self.activities.pop()

    def interrupted(self) -> str:
        """One line for a cell the learner interrupted: what it was doing, what is left."""
        stopped, self.stopped = self.stopped, None
        if stopped is None:
            return "interrupted"
        what, left = stopped
        return f"interrupted while {what}" + (f": {left}" if left else "")

    def console_mark(self) -> int | None:
        """Where the running VM's console stands now (None when no VM runs)."""
        vm = self.running_vm
        if vm is None:
            return None
        with contextlib.suppress(VMNotRunning):  # it stopped since we asked
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
            except VMNotRunning:
                return []
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def warnings_since(self, mark: int | None) -> list[CrashReport]:
        """WARN reports that began after ``mark`` (the console keeps them apart)."""
        vm = self._vm
        if vm is None or mark is None:
            return []
        try:
            return [w for w in getattr(vm.console, "warnings", []) if w.position >= mark]
        except VMNotRunning:
            return []

    def shutdown(self) -> None:
        """Stop the VM (at interpreter exit, or when the extension is unloaded)."""
        vm = self._vm
        if vm is not None:
            # At interpreter exit nobody can act on an error: stop() cleans up in its
            # own ``finally``, and whatever it raises must not hide other atexit work.
            with contextlib.suppress(Exception):
                vm.stop(timeout=SHUTDOWN_TIMEOUT)
        self._stopped_on_purpose = True

    # -- the workspace, as lessons call it ---------------------------------------------

    def last_build(self, name: str) -> BuildResult:
        return self.workspace.last_build(name)

    def load(
        self,
        name: str,
        params: Sequence[str] | Mapping[str, object] = (),
        *,
        reload: bool = False,
        force: bool = False,
    ) -> LoadResult:
        """insmod the last build of NAME; with ``reload``, rmmod a loaded copy first."""
        change = self.workspace.load(name, params, reload=reload, force=force)
        return LoadResult.of(change, self.explain)

    def unload(self, name: str, *, force: bool = False) -> LoadResult:
        return LoadResult.of(self.workspace.unload(name, force=force), self.explain)

    def modprobe(
        self, name: str, params: Sequence[str] = (), *, remove: bool = False
    ) -> LoadResult:
        return LoadResult.of(self.workspace.modprobe(name, params, remove=remove), self.explain)


def _boot_stage(vm: LabMachine) -> str:
    """What the boot is waiting for, read from the console (for the progress label)."""
    try:
        text = vm.console.text()
    except VMNotRunning:  # QEMU has not started its console yet
        return "starting QEMU"
    if "kernelmagic: init started" in text:
        return "waiting for the guest agent"
    return "kernel booting" if text else "starting QEMU"


_session: LabSession | None = None


def get_session() -> LabSession:
    """This process's session, created on first use; its VM stops at interpreter exit.

    Its workspace becomes the current one, where the course's checks find the VM.
    """
    global _session
    if _session is None:
        # The views say what the learner needs; the core's log lines (a kernel report
        # seen, an NMI sent) would also reach the cell through Python's last-resort
        # handler, some from a reader thread. A notebook that configures logging still
        # gets them.
        logging.getLogger("kernelmagic").addHandler(logging.NullHandler())
        set_session(LabSession())
    assert _session is not None
    return _session


def set_session(session: LabSession | None) -> LabSession | None:
    """Replace the process's session (tests, or a lesson wanting its own); returns the old."""
    global _session
    old, _session = _session, session
    set_current(session.workspace if session is not None else None)
    if session is not None:
        atexit.register(session.shutdown)
    return old
