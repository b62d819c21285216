# SPDX-License-Identifier: MIT
"""The lab VM: one QEMU process running the bundle's kernel, reached through its agent.

In the spirit of QEMU's own ``QEMUMachine``: the constructor only configures;
``start()`` launches and waits for the guest agent; ``stop()`` quits gracefully, then
by force; ``kill()`` does not wait. Every channel (console, agent, monitor) is one end
of a ``socketpair`` handed to QEMU, so there are no socket files to race for. QEMU runs
in its own process group with a parent-death signal and is stopped at interpreter
exit, so it never outlives the Python process that started it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kernelmagic import paths
from kernelmagic.errors import (
    AgentError,
    BootTimeout,
    KernelCrashed,
    KernelMagicError,
    QEMUExited,
    SetupError,
    VMError,
    VMNotRunning,
)
from kernelmagic.machine import snapshot
from kernelmagic.machine.accel import QEMU, AccelChoice, choose, qemu_version
from kernelmagic.machine.agent import ExecResult, GuestAgent
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.console import ConsoleRecorder, CrashReport
from kernelmagic.machine.qmp import QMPClient
from kernelmagic.procs import pid_alive

log = logging.getLogger(__name__)

SHARE_TAG = "kmshare"
GUEST_SHARE = "/mnt/host"
RUNTIME_PREFIX = "kernelmagic-vm-"

# Boot quietly (every character on an emulated UART costs time); the guest's init
# raises the console loglevel once it runs, so module messages reach the console.
KERNEL_CMDLINE = (
    "console=ttyS0,115200 nokaslr quiet panic=-1 "
    "8250.nr_uarts=2 i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable no_timer_check "
    "mitigations=off rcupdate.rcu_expedited=1 cryptomgr.notests acpi=off ipv6.disable=1 "
    # The PIT drives the timer: calibrating the local APIC timer costs 0.25 s under TCG.
    "noapictimer "
    # Initcalls that only self-test crypto the lab never uses: a quarter second under TCG.
    "initcall_blacklist=crypto_kdf108_init,init_encrypted"
)
# qboot, a minimal firmware, hands over to the kernel faster than SeaBIOS.
QBOOT = "/usr/share/qemu/qboot.rom"

# Running VMs, held strongly: a LabVM dropped without stop() is still stopped at exit.
_live: set[LabVM] = set()
_PLACEHOLDER_FDS = {"console": 0, "qga": 0, "qmp": 0}


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


class LabVM:
    """One lab VM. Configure in the constructor; ``start()`` boots it."""

    def __init__(
        self,
        bundle: Bundle | None = None,
        *,
        memory_mb: int = 256,
        cpus: int = 1,
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
        self.requested_accel = accel
        self.share_dir = share_dir
        self.boot_timeout = boot_timeout
        self.console_shell = console_shell
        self.extra_cmdline = extra_cmdline
        self.qemu = qemu
        self.tcg_cpu = tcg_cpu
        self.use_snapshot = snapshot
        self.restored = False
        self._janitor: subprocess.Popen[bytes] | None = None
        self._janitor_pipe: int | None = None
        self.accel: AccelChoice | None = None
        self.boot_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._runtime: Path | None = None
        self._qemu_log: IO[bytes] | None = None
        self._console: ConsoleRecorder | None = None
        self._agent: GuestAgent | None = None
        self._qmp: QMPClient | None = None
        self._started_at: float | None = None
        self._share_mounted = False
        self._settled = False
        self._handled_crashes = 0

    # -- configuration -------------------------------------------------------------

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:
            self._bundle = Bundle.load()
        return self._bundle

    def _accel_choice(self) -> AccelChoice:
        if self.requested_accel:
            return AccelChoice(self.requested_accel, "asked for by the caller")
        return choose()

    def qemu_argv(self, accel: str, fds: Mapping[str, int]) -> list[str]:
        """The full QEMU command line; fds maps channel names to inherited sockets."""
        bundle = self.bundle
        cmdline = KERNEL_CMDLINE
        if self.console_shell:
            cmdline += " kernelmagic.shell=1"
        if self.extra_cmdline:
            cmdline += " " + self.extra_cmdline
        argv = [
            self.qemu, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
            "-machine", f"pc,accel={accel}",
            "-cpu", "host" if accel == "kvm" else self.tcg_cpu,
            "-m", f"{self.memory_mb}M", "-smp", str(self.cpus),
            "-kernel", str(bundle.vmlinux), "-initrd", str(bundle.initramfs),
            "-append", cmdline,
            "-chardev", f"socket,id=console,fd={fds['console']}",
            "-serial", "chardev:console",
            "-chardev", f"socket,id=qga,fd={fds['qga']}",
            "-serial", "chardev:qga",
            "-chardev", f"socket,id=qmp,fd={fds['qmp']}",
            "-mon", "chardev=qmp,mode=control",
        ]  # fmt: skip
        if Path(QBOOT).is_file():
            argv += ["-bios", QBOOT]
        share = self.share_dir or paths.builds_dir()
        argv += [
            "-fsdev", f"local,id={SHARE_TAG},path={_qemu_opt(str(share))},"
            "security_model=none,readonly=on",
            "-device", f"virtio-9p-pci,fsdev={SHARE_TAG},mount_tag={SHARE_TAG}",
        ]  # fmt: skip
        return argv

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Boot (or restore a saved boot) and wait until the guest agent answers.

        Raises BootTimeout if the agent never answers.
        """
        if self.is_running():
            return
        if shutil.which(self.qemu) is None:
            raise SetupError(
                f"{self.qemu} is not installed; run: sudo apt-get install qemu-system-x86"
            )
        self.accel = self._accel_choice()
        (self.share_dir or paths.builds_dir()).mkdir(parents=True, exist_ok=True)
        clean_stale_runtime_dirs()
        try:
            self._start()
        except BaseException:
            # Ctrl-C or any failure half-way: never leave a half-started QEMU behind.
            self.kill()
            raise

    def _start(self) -> None:
        assert self.accel is not None
        state = self._state_path() if self.use_snapshot else None
        if state is not None and state.is_file():
            try:
                snapshot.touch(state)
                self._launch(snapshot.incoming_argv(state))
                snapshot.wait_restored(self._qmp_client())
                self._wait_for_agent(min(self.boot_timeout, 15.0))
                self._settled = True
                self.restored = True
                self._set_guest_clock()
                self.boot_seconds = time.monotonic() - (self._started_at or 0.0)
                log.info("lab VM restored in %.2f s (%s)", self.boot_seconds, self.accel.accel)
                return
            except KernelCrashed:
                raise
            except Exception as exc:
                # A state QEMU cannot load (or that does not answer) is dropped, not fatal.
                log.warning("could not restore the saved VM state (%s); booting", exc)
                self.kill()
                state.unlink(missing_ok=True)
        self.restored = False
        self._launch([])
        self._wait_for_agent(self.boot_timeout)
        self.boot_seconds = time.monotonic() - (self._started_at or 0.0)
        log.info("lab VM ready in %.2f s (%s)", self.boot_seconds, self.accel.accel)
        if state is not None:
            try:
                self.wait_settled()
                seconds = snapshot.save(self._qmp_client(), state)
                log.info("saved the booted VM state in %.2f s for faster starts", seconds)
            except Exception as exc:  # a failed save costs only the next fast start
                log.warning("could not save the VM state: %s", exc)

    def _set_guest_clock(self) -> None:
        """A restored guest wakes up with the clock of the moment it was saved; fix it."""
        try:
            self._agent.call("guest-set-time", {"time": time.time_ns()}, timeout=5.0)  # type: ignore[union-attr]
        except KernelMagicError as exc:
            log.info("could not set the guest clock: %s", exc)

    def _state_path(self) -> Path | None:
        if not snapshot.enabled():
            return None
        files = self.bundle.manifest.get("files", {})
        argv = self.qemu_argv(self.accel.accel if self.accel else "tcg", _PLACEHOLDER_FDS)
        return snapshot.state_path(argv, files, qemu_version(self.qemu))

    def _qmp_client(self) -> QMPClient:
        if self._qmp is None:
            raise VMNotRunning("the lab VM is not running")
        return self._qmp

    def _launch(self, extra_argv: list[str]) -> None:
        """Start QEMU with fresh channels and a fresh runtime dir."""
        assert self.accel is not None
        self._runtime = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
        self._runtime.chmod(0o700)
        (self._runtime / "owner.pid").write_text(f"{os.getpid()}\n")
        self._start_janitor(self._runtime)
        ours: dict[str, socket.socket] = {}
        theirs: dict[str, socket.socket] = {}
        try:
            for name in ("console", "qga", "qmp"):
                ours[name], theirs[name] = socket.socketpair()
            fds = {name: sock.fileno() for name, sock in theirs.items()}
            argv = _with_parent_death_signal(self.qemu_argv(self.accel.accel, fds) + extra_argv)
            log.info("starting %s (kernel %s)", self.accel.accel, self.bundle.kernel_release)
            self._qemu_log = (self._runtime / "qemu.log").open("wb")
            self._started_at = time.monotonic()
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._qemu_log,
                stderr=subprocess.STDOUT, pass_fds=tuple(fds.values()),
                start_new_session=True,
            )  # fmt: skip
            _live.add(self)
        except BaseException:
            for sock in (*ours.values(), *theirs.values()):
                sock.close()
            self._cleanup()
            raise
        for sock in theirs.values():
            sock.close()
        self._console = ConsoleRecorder(ours["console"], self._runtime / "console.log")
        self._console.start()
        self._qmp = QMPClient(ours["qmp"])
        self._agent = GuestAgent(ours["qga"], abort_check=self._abort_check)
        self._share_mounted = False
        self._settled = False
        self._handled_crashes = 0

    def _start_janitor(self, runtime: Path) -> None:
        """A tiny shell that removes the runtime dir if this process dies without stop().

        QEMU dies with us (parent-death signal), but a SIGKILLed Python process (as when
        Jupyter kills a kernel) runs no cleanup; the janitor waits on a pipe only we hold
        and removes the folder when that pipe closes.
        """
        read_end, self._janitor_pipe = os.pipe()
        try:
            self._janitor = subprocess.Popen(
                ["/bin/sh", "-c", 'read -r _; rm -rf -- "$1"', "kernelmagic-janitor",
                 str(runtime)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(read_end)

    def _stop_janitor(self) -> None:
        if self._janitor_pipe is not None:
            os.close(self._janitor_pipe)
            self._janitor_pipe = None
        if self._janitor is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._janitor.wait(5)
            self._janitor = None

    def _wait_for_agent(self, timeout: float) -> None:
        assert self._agent is not None and self.accel is not None
        try:
            self._agent.sync(timeout)
        except (KernelCrashed, QEMUExited):
            self.kill()
            raise
        except (AgentError, OSError) as exc:
            detail = self._failure_detail()
            self.kill()
            raise BootTimeout(
                f"the lab VM ({self.accel.accel}) did not reach its guest agent within "
                f"{timeout:.0f} s{detail}"
            ) from exc

    def stop(self, timeout: float = 5.0) -> None:
        """Quit QEMU through its monitor, then terminate, then kill; always clean up."""
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(Exception):
                    if self._qmp is not None:
                        self._qmp.execute("quit", timeout=min(timeout, 2.0))
                _wait_or_escalate(proc, timeout)
        finally:
            self._cleanup()

    def kill(self) -> None:
        """Stop QEMU at once (SIGKILL to its process group) and clean up."""
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        finally:
            self._cleanup()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> LabVM:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _cleanup(self) -> None:
        for closer in (self._agent, self._qmp):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        if self._console is not None:
            with contextlib.suppress(Exception):
                self._console.stop()
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
        if self._qemu_log is not None:
            self._qemu_log.close()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
        self._stop_janitor()
        self._agent = self._qmp = None
        self._qemu_log = None
        self._runtime = None
        self._proc = None
        _live.discard(self)

    # -- talking to the guest ------------------------------------------------------

    @property
    def console(self) -> ConsoleRecorder:
        if self._console is None:
            raise VMNotRunning("the lab VM is not running")
        return self._console

    @property
    def agent(self) -> GuestAgent:
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

    def ensure_share(self) -> str:
        """Mount the read-only share of the build outputs; returns its guest path."""
        if not self._share_mounted:
            self.exec(["/usr/local/sbin/kernelmagic-mount-share"], timeout=30, check=True)
            self._share_mounted = True
        return GUEST_SHARE

    def guest_path(self, host_path: Path) -> str:
        """Where a file under the shared build folder appears in the guest."""
        share = (self.share_dir or paths.builds_dir()).resolve()
        try:
            rel = Path(host_path).resolve().relative_to(share)
        except ValueError as exc:
            raise VMError(f"{host_path} is not inside the shared folder {share}") from exc
        return f"{self.ensure_share()}/{rel.as_posix()}"

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
        self.exec(["/usr/local/sbin/kernelmagic-mount-share", "--wait"], timeout=30, check=True)
        if self.accel.accel == "tcg":
            started = self._started_at or time.monotonic()
            remaining = limit - (time.monotonic() - started)
            if remaining > 0:
                self.console.wait_for("Switched to clocksource tsc", timeout=remaining)
        self._settled = True

    @property
    def crash(self) -> CrashReport | None:
        return self._console.crash if self._console is not None else None

    def status(self) -> VMStatus:
        running = self.is_running()
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
            pid=self._proc.pid if self._proc is not None and running else None,
            runtime_dir=str(self._runtime) if self._runtime else None,
        )

    def log_text(self) -> str:
        """Everything QEMU itself printed (not the guest console)."""
        if self._runtime is None:
            return ""
        try:
            return (self._runtime / "qemu.log").read_text(errors="replace")
        except OSError:
            return ""

    def _abort_check(self) -> None:
        """Called by the agent while it waits: fail fast when the kernel or QEMU died."""
        console = self._console
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            if console is not None:
                console.wait_closed(1.0)
            report = console.crash if console is not None else None
            if report is not None:
                raise KernelCrashed(f"the lab VM's kernel crashed: {report.title}", report.report)
            raise QEMUExited(
                f"QEMU exited with status {proc.returncode}{self._failure_detail()}",
                argv=proc.args if isinstance(proc.args, list) else [str(proc.args)],
                log_tail="\n".join(self.log_text().splitlines()[-20:]),
            )
        if console is not None:
            crashes = console.crashes
            if len(crashes) > self._handled_crashes:
                report = crashes[-1]
                if report.kind != "oops" or report.fatal:
                    self._handled_crashes = len(crashes)
                    raise KernelCrashed(
                        f"the lab VM's kernel reported a {report.kind}: {report.title}",
                        report.report,
                    )

    def _failure_detail(self) -> str:
        text = self.log_text().strip()
        if text:
            return ": " + text.splitlines()[-1]
        return ""


def _qemu_opt(value: str) -> str:
    """Escape a value for a QEMU -option list, where a comma is written twice."""
    return value.replace(",", ",,")


def _with_parent_death_signal(argv: list[str]) -> list[str]:
    """Prefix argv so QEMU gets SIGKILL when this process dies (util-linux's setpriv).

    setpriv sets the parent-death signal and then execs QEMU in the same process, so
    nothing runs between fork and exec in our (threaded) interpreter.
    """
    setpriv = shutil.which("setpriv") or (
        "/usr/bin/setpriv" if Path("/usr/bin/setpriv").exists() else None
    )
    if setpriv is None:
        log.warning("setpriv (util-linux) is missing: QEMU may outlive a killed Python process")
        return argv
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def _wait_or_escalate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
            return


def clean_stale_runtime_dirs() -> None:
    """Remove runtime dirs left by a Python process that died without cleaning up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*"):
        try:
            pid = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


@atexit.register
def _stop_all() -> None:
    for vm in list(_live):
        with contextlib.suppress(Exception):
            vm.kill()
