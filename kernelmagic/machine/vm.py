# SPDX-License-Identifier: MIT
"""The lab VM: one QEMU process running the bundle's kernel, reached through its agent.

In the spirit of QEMU's own ``QEMUMachine``: the constructor only configures;
``start()`` launches and waits for the guest agent; ``stop()`` quits gracefully, then
by force; ``kill()`` does not wait. Every channel (console, agent, monitor) is one end
of a ``socketpair`` handed to QEMU, so there are no socket files to race for. QEMU runs
in its own process group with a parent-death signal and is stopped at interpreter
exit, so it never outlives the Python process that started it (see
:mod:`kernelmagic.machine.process`). The command line is built in
:mod:`kernelmagic.machine.cmdline`; when to give up on the guest is
:mod:`kernelmagic.machine.watch`'s call.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import (
    AgentError,
    BootTimeout,
    KernelCrashed,
    QEMUExited,
    SetupError,
    VMError,
    VMNotRunning,
)
from kernelmagic.machine import cmdline, health, hung_task, share, slots, snapshot, stuck_cpu
from kernelmagic.machine.accel import PROBE_TIMEOUT, QEMU, AccelChoice, choose, probe, qemu_version
from kernelmagic.machine.agent import GuestAgent
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.config import DEFAULT_CPUS, DEFAULT_MEMORY_MB, MachineConfig
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.process import (
    QEMUProcess,
    clean_stale_runtime_dirs,
)
from kernelmagic.machine.qmp import QMPClient
from kernelmagic.machine.watch import CrashWatch

__all__ = ["LabVM", "VMStatus", "kvm_boot_seconds", "probe_accel"]

log = logging.getLogger(__name__)

# Running VMs, held strongly: a LabVM dropped without stop() is still stopped at exit.
_live: set[LabVM] = set()


@dataclass(frozen=True)
class VMStatus:
    """What ``%vm status`` and ``kernelmagic doctor`` show about a running VM."""

    running: bool
    accel: str
    accel_reason: str
    kernel_release: str
    boot_seconds: float | None
    uptime_seconds: float | None
    pid: int | None
    runtime_dir: str | None
    machine: str = ""  # MachineConfig.describe(): vCPUs, memory, extra devices


class LabVM:
    """One lab VM. Configure in the constructor; ``start()`` boots it."""

    def __init__(
        self,
        bundle: Bundle | None = None,
        *,
        memory_mb: int = DEFAULT_MEMORY_MB,
        cpus: int = DEFAULT_CPUS,
        devices: Sequence[str] = (),
        accel: str | None = None,
        share_dir: Path | None = None,
        boot_timeout: float = 60.0,
        console_shell: bool = False,
        extra_cmdline: str = "",
        qemu: str = QEMU,
        tcg_cpu: str = "max",
        snapshot: bool = True,
    ) -> None:
        self._bundle = bundle
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.devices = tuple(devices)
        self.requested_accel = accel
        self.share_dir = share_dir
        self.boot_timeout = boot_timeout
        self.console_shell = console_shell
        self.extra_cmdline = extra_cmdline
        self.qemu = qemu
        self.tcg_cpu = tcg_cpu
        self.use_snapshot = snapshot
        self.restored = False
        self.accel: AccelChoice | None = None
        self.boot_seconds: float | None = None
        self._qemu: QEMUProcess | None = None
        self._console: ConsoleRecorder | None = None
        self._agent: GuestAgent | None = None
        self._qmp: QMPClient | None = None
        self._watch: CrashWatch | None = None
        self._started_at: float | None = None
        self._share_mounted = False
        self._settled = False
        # Its place in the course server's cap on running VMs (see kernelmagic.machine.slots);
        # kept while a start retries or a restart stops, so no other VM can take it meanwhile.
        self._slots: slots.SlotHold | None = None
        self._keep_slots = False

    # -- configuration -------------------------------------------------------------

    @classmethod
    def of(cls, config: MachineConfig) -> LabVM:
        """A lab VM of this machine configuration (vCPUs, memory, devices)."""
        return cls(cpus=config.cpus, memory_mb=config.memory_mb, devices=config.devices)

    @property
    def config(self) -> MachineConfig:
        return MachineConfig(self.cpus, self.memory_mb, self.devices)

    @property
    def bundle(self) -> Bundle:
        """The bundle to boot, loaded on first use (a missing bundle is an error then)."""
        if self._bundle is None:
            self._bundle = Bundle.load()
        return self._bundle

    def _accel_choice(self) -> AccelChoice:
        if self.requested_accel:
            return AccelChoice(self.requested_accel, "asked for by the caller")
        return choose(kvm_boot_seconds)

    def qemu_argv(self, accel: str, fds: Mapping[str, int]) -> list[str]:
        """The full QEMU command line; fds maps channel names to inherited sockets."""
        return cmdline.qemu_argv(
            qemu=self.qemu,
            accel=accel,
            tcg_cpu=self.tcg_cpu,
            memory_mb=self.memory_mb,
            cpus=self.cpus,
            devices=self.devices,
            kernel=self.bundle.vmlinux,
            initrd=self.bundle.initramfs,
            append=cmdline.kernel_cmdline(
                cpus=self.cpus, console_shell=self.console_shell, extra=self.extra_cmdline
            ),
            share=self.share_dir or paths.builds_dir(),
            fds=fds,
        )

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Boot (or restore a saved boot) and wait until the guest agent answers.

        Raises BootTimeout if the agent never answers, VMLimitReached (before any QEMU
        is launched) when the course server's cap on running VMs is reached.
        """
        if self.is_running():
            return
        try:
            if shutil.which(self.qemu) is None:
                raise SetupError(
                    f"{self.qemu} is not installed; run: sudo apt-get install qemu-system-x86"
                )
            self.accel = self._accel_choice()  # a KVM probe's VM takes its slot, then frees it
            (self.share_dir or paths.builds_dir()).mkdir(parents=True, exist_ok=True)
            clean_stale_runtime_dirs()
            if self._slots is None:  # a restart still holds its slot
                self._slots = slots.acquire()
            with self._keeping_slots():
                self._start()
        except BaseException:
            # Ctrl-C or any failure half-way: never leave a half-started QEMU behind.
            self.kill()
            raise

    def _start(self) -> None:
        assert self.accel is not None
        state = self._state_path() if self.use_snapshot else None
        if state is not None and state.is_file() and self._restore(state):
            return
        self.restored = False
        for attempt in range(1, health.BOOT_ATTEMPTS + 1):
            self._launch([])
            self._wait_for_agent(self.boot_timeout)
            healthy = health.lapic_timer_works(self.exec, self.cpus)
            if healthy or attempt == health.BOOT_ATTEMPTS:
                break
            log.warning("the guest's APIC timer failed its boot check (a busy host): booting again")
            self.kill()
        if not healthy:  # the last try is used, but not saved
            log.warning("the APIC timer failed again: a CPU stuck with IRQs off may go unreported")
        self.boot_seconds = time.monotonic() - (self._started_at or 0.0)
        log.info("lab VM ready in %.2f s (%s)", self.boot_seconds, self.accel.accel)
        if state is not None and healthy:
            try:
                self.wait_settled()
                seconds = snapshot.save(self._qmp_client(), state)
                log.info("saved the booted VM state in %.2f s for faster starts", seconds)
            except Exception as exc:  # any failure costs only the next fast start
                log.warning("could not save the VM state: %s", exc)

    def _restore(self, state: Path) -> bool:
        """Start from a saved state; False (state dropped, nothing running) if that failed."""
        assert self.accel is not None
        try:
            snapshot.touch(state)
            self._launch(snapshot.incoming_argv(state))
            snapshot.wait_restored(self._qmp_client())
            self._wait_for_agent(min(self.boot_timeout, 15.0))
            if self.devices:
                self.exec(self.config.reprobe_argv(), timeout=15.0, check=True)
        except KernelCrashed:
            raise
        except Exception as exc:  # whatever broke, a cold boot still works: not fatal
            log.warning("could not restore the saved VM state (%s); booting", exc)
            self.kill()
            state.unlink(missing_ok=True)
            return False
        self._settled = True
        self.restored = True
        snapshot.set_guest_clock(self._agent)
        self.boot_seconds = time.monotonic() - (self._started_at or 0.0)
        log.info("lab VM restored in %.2f s (%s)", self.boot_seconds, self.accel.accel)
        return True

    def _state_path(self) -> Path | None:
        if not snapshot.enabled():
            return None
        files = self.bundle.manifest.get("files", {})
        argv = self.qemu_argv(self.accel.accel if self.accel else "tcg", cmdline.PLACEHOLDER_FDS)
        return snapshot.state_path(argv, files, qemu_version(self.qemu))

    def _qmp_client(self) -> QMPClient:
        if self._qmp is None:
            raise VMNotRunning("the lab VM is not running")
        return self._qmp

    def _launch(self, extra_argv: list[str]) -> None:
        """Start QEMU with fresh channels and a fresh runtime dir."""
        accel = self.accel
        assert accel is not None
        log.info("starting %s (kernel %s)", accel.accel, self.bundle.kernel_release)
        try:
            qemu = QEMUProcess.launch(
                cmdline.CHANNELS, lambda fds: self.qemu_argv(accel.accel, fds) + extra_argv
            )
        except BaseException:
            self._cleanup()
            raise
        self._qemu = qemu
        _live.add(self)
        self._started_at = qemu.started_at
        ours = qemu.sockets
        assert qemu.runtime is not None
        self._console = ConsoleRecorder(
            ours["console"], qemu.runtime / "console.log", on_crash=self._on_crash
        )
        self._console.start()
        self._qmp = QMPClient(ours["qmp"])
        self._watch = CrashWatch(self._console, qemu)
        self._agent = GuestAgent(ours["qga"], abort_check=self._watch)
        self._share_mounted = False
        self._settled = False

    def _wait_for_agent(self, timeout: float) -> None:
        assert self._agent is not None and self.accel is not None
        try:
            self._agent.sync(timeout)
        except (KernelCrashed, QEMUExited):
            self.kill()
            raise
        except (AgentError, OSError) as exc:
            detail = self._qemu.failure_detail() if self._qemu is not None else ""
            self.kill()
            raise BootTimeout(
                f"the lab VM ({self.accel.accel}) did not reach its guest agent within "
                f"{timeout:.0f} s{detail}"
            ) from exc

    def stop(self, timeout: float = 5.0) -> None:
        """Quit QEMU through its monitor, then terminate, then kill; always clean up."""
        qemu = self._qemu
        try:
            if qemu is not None and qemu.running():
                if self._qmp is not None:
                    with contextlib.suppress(VMError, OSError):  # then it is terminated
                        self._qmp.execute("quit", timeout=min(timeout, 2.0))
                qemu.stop(timeout)
        finally:
            self._cleanup()

    def kill(self) -> None:
        """Stop QEMU at once (SIGKILL to its process group) and clean up."""
        self._cleanup()

    def restart(self) -> None:
        """Stop, then start again: a fresh kernel (from the saved state when there is one).

        The VM keeps its slot meanwhile: a full course server cannot refuse its restart.
        """
        try:
            with self._keeping_slots():
                self.stop()
        except BaseException:
            self._release_slots()  # no start follows
            raise
        self.start()

    def is_running(self) -> bool:
        """Whether QEMU runs (the guest may still be booting, or dead inside it).

        A QEMU that ended on its own (a panic) gives its slot back here, at the first look.
        """
        running = self._qemu is not None and self._qemu.running()
        if not running and self._qemu is not None:
            self._release_slots()
        return running

    @contextlib.contextmanager
    def _keeping_slots(self) -> Iterator[None]:
        """Hold on to the slot while QEMU is stopped and started again by us."""
        self._keep_slots = True
        try:
            yield
        finally:
            self._keep_slots = False

    def _release_slots(self) -> None:
        if not self._keep_slots and self._slots is not None:
            hold, self._slots = self._slots, None
            hold.release()

    def __enter__(self) -> LabVM:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _cleanup(self) -> None:
        """Kill QEMU if it still runs, close the channels, remove the runtime dir.

        The console recorder is stopped but kept: its crash report is the post-mortem.
        """
        try:
            if self._qemu is not None:
                self._qemu.kill()
            closers = [c.close for c in (self._agent, self._qmp) if c is not None]
            if self._console is not None:
                closers.append(self._console.stop)
            for close in closers:
                with contextlib.suppress(OSError):  # QEMU may have closed its end first
                    close()
        finally:
            if self._qemu is not None:
                self._qemu.close()
            self._agent = self._qmp = self._watch = None
            self._qemu = None
            _live.discard(self)
            self._release_slots()

    # -- talking to the guest ------------------------------------------------------

    @property
    def console(self) -> ConsoleRecorder:
        """The console recorder of the running (or the last) VM."""
        if self._console is None:
            raise VMNotRunning("the lab VM is not running")
        return self._console

    @property
    def agent(self) -> GuestAgent:
        """The guest agent of the running VM.

        When QEMU ended on its own since (a panic), that is the error: KernelCrashed
        with the console's report, once; later calls find the VM not running.
        """
        if self._agent is not None and not self.is_running() and self._watch is not None:
            watch, self._watch = self._watch, None
            watch()  # raises KernelCrashed or QEMUExited
        if self._agent is None or not self.is_running():
            raise VMNotRunning("the lab VM is not running (start it with %vm start)")
        return self._agent

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        input: bytes | None = None,
        check: bool = False,
    ) -> ExecResult:
        """Run argv in the guest (never through a shell) and return its result."""
        return self.agent.exec(list(argv), timeout=timeout, input=input, check=check)

    def spawn(self, argv: Sequence[str]) -> int:
        """Start argv in the guest (no shell) without waiting; collect it with :meth:`poll`."""
        return self.agent.spawn(list(argv))

    def poll(self, pid: int, timeout: float = 1.0) -> ExecResult | None:
        """The result of a spawned command, or None while it runs.

        Raises AgentTimeout when the agent stays silent for ``timeout`` s (a CPU that
        does not come back), KernelCrashed when the console saw the kernel die.
        """
        return self.agent.exec_status(pid, timeout=timeout)

    def report_stuck_cpu(self) -> bool:
        """Make a CPU that does not come back say where it is; False if this VM cannot.

        One vCPU: an NMI that panics the kernel; more: every CPU's NMI backtrace, asked
        for through the agent (see :mod:`kernelmagic.machine.stuck_cpu`).
        """
        if self._qmp is None or self._console is None or not self.is_running():
            return False
        return stuck_cpu.report(self._qmp, self._console, self.exec, self.cpus)

    def _on_crash(self, report: CrashReport) -> None:
        """The console recorder finished a report (on its thread: must not block)."""
        if self._console is not None and self._agent is not None:
            hung_task.complete_in_background(self.exec, self._console, report)

    def ensure_share(self) -> str:
        """Mount the read-only share of the build outputs; returns its guest path."""
        if not self._share_mounted:
            self.exec(share.mount_argv(), timeout=30, check=True)
            self._share_mounted = True
        return share.GUEST_SHARE

    def guest_path(self, host_path: Path) -> str:
        """Where a file under the shared build folder appears in the guest (mounted then)."""
        path = share.guest_path(self.share_dir or paths.builds_dir(), host_path)
        self.ensure_share()
        return path

    def wait_settled(self, limit: float = 3.0) -> None:
        """Wait until the guest has finished what its boot started in the background.

        The init loads the virtio and 9p modules after starting the agent, so the
        agent answers early; and under TCG the kernel switches to the TSC clocksource
        about a second after boot. Waiting for both (the clocksource at most until
        ``limit`` s after start) makes ``lsmod`` and a first insmod's log the same on
        every run, and a saved state is always taken from this settled guest.
        """
        if self._settled or self.accel is None:
            return
        self.exec(share.mount_argv(wait=True), timeout=30, check=True)
        if self.accel.accel == "tcg":
            started = self._started_at or time.monotonic()
            remaining = limit - (time.monotonic() - started)
            if remaining > 0:
                self.console.wait_for("Switched to clocksource tsc", timeout=remaining)
        self._settled = True

    @property
    def crash(self) -> CrashReport | None:
        """The first crash the console saw since this VM (or the last one) started."""
        return self._console.crash if self._console is not None else None

    def status(self) -> VMStatus:
        """What is running, on which accelerator, since when."""
        running = self.is_running()
        qemu = self._qemu
        uptime = None
        if running and self._started_at is not None:
            uptime = time.monotonic() - self._started_at
        return VMStatus(
            running=running,
            accel=self.accel.accel if self.accel else "",
            accel_reason=self.accel.reason if self.accel else "",
            kernel_release=self.bundle.kernel_release,
            boot_seconds=self.boot_seconds,
            uptime_seconds=uptime,
            pid=qemu.pid if qemu is not None and running else None,
            runtime_dir=str(qemu.runtime) if qemu is not None and qemu.runtime else None,
            machine=self.config.describe(),
        )

    def log_text(self) -> str:
        """Everything QEMU itself printed (not the guest console)."""
        return self._qemu.log_text() if self._qemu is not None else ""


def kvm_boot_seconds(timeout: float) -> float:
    """Boot a throwaway lab VM under KVM: the probe of :func:`kernelmagic.machine.accel.choose`.

    Returns the seconds QEMU took to reach the guest agent; raises what ``start`` raises.
    """
    vm = LabVM(accel="kvm", boot_timeout=timeout, snapshot=False)
    try:
        vm.start()
        return vm.boot_seconds or 0.0
    finally:
        vm.stop()


def probe_accel(timeout: float = PROBE_TIMEOUT) -> AccelChoice:
    """Find out now whether a KVM boot works here (``kernelmagic vm probe-accel``); not recorded."""
    return probe(kvm_boot_seconds, timeout)


@atexit.register
def _stop_all() -> None:
    for vm in list(_live):
        with contextlib.suppress(Exception):  # one VM's failure must not spare the others
            vm.kill()
