# SPDX-License-Identifier: MIT
"""The QEMU command line of the lab VM, and the kernel command line inside it.

Kept apart from :class:`~kernelmagic.machine.vm.LabVM` because it is also the key of a
saved state (:func:`kernelmagic.machine.snapshot.state_path`): whatever changes the
machine must change this command line, and nothing else may.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from kernelmagic.machine.share import SHARE_TAG

__all__ = [
    "CHANNELS",
    "KERNEL_CMDLINE",
    "ONE_CPU_CMDLINE",
    "PLACEHOLDER_FDS",
    "QBOOT",
    "kernel_cmdline",
    "qemu_argv",
]

# Boot quietly (every character on an emulated UART costs time); the guest's init
# sets the console loglevel once it runs (vm/init), so crash reports reach the console.
KERNEL_CMDLINE = (
    "console=ttyS0,115200 nokaslr quiet panic=-1 "
    "8250.nr_uarts=2 i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable no_timer_check "
    "mitigations=off rcupdate.rcu_expedited=1 cryptomgr.notests acpi=off ipv6.disable=1 "
    # A CPU that never comes back is reported within about 3 s instead of 20-45 s: the
    # soft-lockup watchdog (2 x thresh) and the RCU stall detector (which, with two
    # vCPUs, also catches a CPU spinning with interrupts off, by an NMI backtrace).
    "watchdog_thresh=1 rcupdate.rcu_cpu_stall_timeout=3 "
    # Initcalls that only self-test crypto the lab never uses: a quarter second under TCG.
    "initcall_blacklist=crypto_kdf108_init,init_encrypted"
)
# With one vCPU the PIT may drive the timer: calibrating the local APIC timer costs
# 0.25 s under TCG. With more, not: all ticks would come from the PIT through CPU 0, and
# a CPU 0 stuck with interrupts off would silence every watchdog.
ONE_CPU_CMDLINE = "noapictimer"
# qboot, a minimal firmware, hands over to the kernel faster than SeaBIOS.
QBOOT = "/usr/share/qemu/qboot.rom"

#: The channels QEMU gets as inherited sockets: serial console, guest agent, monitor.
CHANNELS = ("console", "qga", "qmp")
#: Stand-in descriptors for a command line that is only hashed, never run.
PLACEHOLDER_FDS: Mapping[str, int] = dict.fromkeys(CHANNELS, 0)


def kernel_cmdline(*, cpus: int = 1, console_shell: bool = False, extra: str = "") -> str:
    """The guest kernel's command line; ``console_shell`` asks the init for a shell on ttyS0."""
    cmdline = KERNEL_CMDLINE
    if cpus == 1:
        cmdline += " " + ONE_CPU_CMDLINE
    if console_shell:
        cmdline += " kernelmagic.shell=1"
    if extra:
        cmdline += " " + extra
    return cmdline


def qemu_argv(
    *,
    qemu: str,
    accel: str,
    tcg_cpu: str,
    memory_mb: int,
    cpus: int,
    kernel: Path,
    devices: Sequence[str] = (),
    initrd: Path,
    append: str,
    share: Path,
    fds: Mapping[str, int],
) -> list[str]:
    """The full QEMU command line; ``fds`` maps each of :data:`CHANNELS` to a socket fd.

    ``append`` is the kernel command line (see :func:`kernel_cmdline`); ``devices``
    are extra ``-device`` models (``edu``), after the lab's own.
    """
    argv = [
        qemu, "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
        "-machine", f"pc,accel={accel}",
        "-cpu", "host" if accel == "kvm" else tcg_cpu,
        "-m", f"{memory_mb}M", "-smp", str(cpus),
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", append,
        "-chardev", f"socket,id=console,fd={fds['console']}",
        "-serial", "chardev:console",
        "-chardev", f"socket,id=qga,fd={fds['qga']}",
        "-serial", "chardev:qga",
        "-chardev", f"socket,id=qmp,fd={fds['qmp']}",
        "-mon", "chardev=qmp,mode=control",
    ]  # fmt: skip
    if Path(QBOOT).is_file():
        argv += ["-bios", QBOOT]
    argv += [
        "-fsdev", f"local,id={SHARE_TAG},path={_qemu_opt(str(share))},"
        "security_model=none,readonly=on",
        "-device", f"virtio-9p-pci,fsdev={SHARE_TAG},mount_tag={SHARE_TAG}",
    ]  # fmt: skip
    for device in devices:
        argv += ["-device", device]
    return argv


def _qemu_opt(value: str) -> str:
    """Escape a value for a QEMU -option list, where a comma is written twice."""
    return value.replace(",", ",,")
