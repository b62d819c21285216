# SPDX-License-Identifier: MIT
"""What a lab VM is made of: vCPUs, memory and extra QEMU devices.

One notebook may ask for a machine unlike the default (a PCI lesson wants QEMU's
``edu`` device); the values are checked here, once, so a typo is one clear line and
never a QEMU that exits at boot. A configuration is part of the saved-state key (it is
part of the QEMU command line), so each one gets its own fast restore.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace

from kernelmagic.errors import UsageError
from kernelmagic.machine.accel import QEMU

__all__ = [
    "DEFAULT_CPUS",
    "DEFAULT_MEMORY_MB",
    "MAX_CPUS",
    "REPROBE_DEVICES",
    "MachineConfig",
    "qemu_device_models",
]

#: Two vCPUs make races real; QEMU's multi-threaded TCG gives each its own host thread.
DEFAULT_CPUS = 2
MAX_CPUS = 8
DEFAULT_MEMORY_MB = 256
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 4096
_DEVICE_NAME = re.compile(r"^[a-z][a-z0-9_.-]*$")
#: Devices the lab adds itself, or that would break it (a second console, a display).
_RESERVED = {"virtio-9p-pci", "isa-serial", "VGA", "qxl", "virtio-vga"}


#: Extra devices get the PCI slots after the lab's own (host bridge, PIIX, 9p at 00:02.0).
FIRST_EXTRA_SLOT = 3
#: A guest command that makes the kernel forget and find again the extra devices. A saved
#: state restores the guest but not devices that QEMU cannot migrate (``edu`` in QEMU 7.2
#: comes back with its PCI configuration reset: BAR0 unassigned, so MMIO reads 0).
REPROBE_DEVICES = (
    'for d in "$@"; do echo 1 > /sys/bus/pci/devices/$d/remove || exit 1; done; '
    "echo 1 > /sys/bus/pci/rescan"
)


@dataclass(frozen=True)
class MachineConfig:
    """vCPUs, memory in MiB, and extra ``-device`` models, in the order given."""

    cpus: int = DEFAULT_CPUS
    memory_mb: int = DEFAULT_MEMORY_MB
    devices: tuple[str, ...] = ()

    def with_changes(
        self,
        *,
        cpus: int | None = None,
        memory_mb: int | None = None,
        devices: Iterable[str] | None = None,
    ) -> MachineConfig:
        """A copy with the given values checked and changed; ``None`` keeps a value."""
        return replace(
            self,
            cpus=self.cpus if cpus is None else _check_cpus(cpus),
            memory_mb=self.memory_mb if memory_mb is None else _check_memory(memory_mb),
            devices=self.devices if devices is None else _check_devices(devices),
        )

    def device_addresses(self) -> list[str]:
        """The guest's PCI addresses of the extra devices, in order (``0000:00:03.0``)."""
        return [f"0000:00:{FIRST_EXTRA_SLOT + i:02x}.0" for i in range(len(self.devices))]

    def reprobe_argv(self) -> list[str]:
        """The guest argv that re-finds the extra devices after a restore (see above)."""
        return ["/bin/sh", "-c", REPROBE_DEVICES, "reprobe", *self.device_addresses()]

    def describe(self) -> str:
        """``2 vCPUs, 256 MiB, device edu``: what a notice says about the machine."""
        text = f"{self.cpus} vCPU{'' if self.cpus == 1 else 's'}, {self.memory_mb} MiB"
        if self.devices:
            noun = "device" if len(self.devices) == 1 else "devices"
            text += f", {noun} {', '.join(self.devices)}"
        return text


def _check_cpus(cpus: int) -> int:
    if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= MAX_CPUS:
        raise UsageError(f"--smp {cpus!r}: the lab VM takes 1 to {MAX_CPUS} vCPUs")
    return cpus


def _check_memory(memory_mb: int) -> int:
    if (
        not isinstance(memory_mb, int)
        or isinstance(memory_mb, bool)
        or not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB
    ):
        raise UsageError(
            f"--memory {memory_mb!r}: give MiB from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}, e.g. 512"
        )
    return memory_mb


def _check_devices(devices: Iterable[str]) -> tuple[str, ...]:
    if isinstance(devices, str):
        devices = [devices]
    names = tuple(str(d).strip() for d in devices)
    if names in ((), ("none",)):
        return ()
    known = qemu_device_models()
    for name in names:
        if not _DEVICE_NAME.match(name):
            raise UsageError(
                f"--device {name!r}: give a QEMU device model by name, e.g. edu "
                "(options after a comma are not taken)"
            )
        if name in _RESERVED:
            raise UsageError(f"--device {name}: the lab VM does not take this device")
        if known and name not in known:
            raise UsageError(
                f"--device {name}: QEMU here has no device of that name "
                "(list them with: qemu-system-x86_64 -device help)"
            )
    if len(set(names)) != len(names):
        raise UsageError(f"--device: {', '.join(names)} names a device twice")
    return names


@functools.cache
def qemu_device_models(qemu: str = QEMU) -> frozenset[str]:
    """The device model names this QEMU knows; empty if QEMU could not be asked."""
    try:
        out = subprocess.run(
            [qemu, "-device", "help"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(re.findall(r'^name "([^"]+)"', out, flags=re.MULTILINE))
