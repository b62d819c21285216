# SPDX-License-Identifier: MIT
"""Choosing the accelerator: KVM when a KVM boot really works here, else TCG.

``/dev/kvm`` existing is not enough: under nested virtualisation a KVM boot can hang
silently (seen on our own machines). So the verdict comes from a real boot that must
reach the guest agent within a deadline; ``make setup`` runs it once and records it,
keyed by host kernel and QEMU version, so no lab start pays for the probe.

The probe's boot itself is the VM layer's business: :class:`~kernelmagic.machine.vm.LabVM`
hands its own boot function to :func:`choose` and :func:`probe`, so this module, which the
VM needs, does not need the VM.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import AgentError, KernelMagicError, SetupError, VMError
from kernelmagic.files import write_atomically

__all__ = [
    "PROBE_TIMEOUT",
    "QEMU",
    "AccelChoice",
    "KVMBoot",
    "choose",
    "host_key",
    "kvm_usable",
    "probe",
    "qemu_version",
    "record",
    "recorded",
]

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 15.0

#: Boots a throwaway lab VM under KVM within the given seconds and returns how long it
#: took to reach the guest agent; raises VMError or AgentError when it did not.
KVMBoot = Callable[[float], float]


@dataclass(frozen=True)
class AccelChoice:
    """Which accelerator to use and why, in words a learner can read."""

    accel: str
    reason: str


@functools.lru_cache(maxsize=8)
def qemu_version(qemu: str = QEMU) -> str:
    """QEMU's ``--version`` line, part of the keys of verdicts and saved states."""
    try:
        out = subprocess.run(
            [qemu, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


def host_key(qemu: str = QEMU) -> str:
    """The verdict is valid for this host kernel and this QEMU only."""
    return f"{platform.release()} | {qemu_version(qemu)}"


def kvm_usable() -> tuple[bool, str]:
    """Whether this user can open ``/dev/kvm`` at all, and why not (no probe boot)."""
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm on this host"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm exists but this user may not open it (join the kvm group)"
    return True, "/dev/kvm is usable"


def recorded(path: Path | None = None) -> AccelChoice | None:
    """The verdict recorded for this host, if any and still valid."""
    path = path or paths.accel_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("host") != host_key():
        return None
    if data.get("accel") not in ("kvm", "tcg") or not isinstance(data.get("reason"), str):
        return None
    return AccelChoice(data["accel"], data["reason"])


def record(choice: AccelChoice, path: Path | None = None) -> None:
    """Keep the verdict for this host (another kernel may be reading it at the same time)."""
    path = path or paths.accel_file()
    text = json.dumps({**asdict(choice), "host": host_key()}, indent=2) + "\n"
    write_atomically(path, text)


def choose(boot: KVMBoot | None = None, *, probe_if_unknown: bool = True) -> AccelChoice:
    """The accelerator for the next boot: forced, recorded, or probed now (then recorded).

    Probing needs ``boot`` (LabVM passes its own); without it, or with
    ``probe_if_unknown=False``, a host whose KVM was never probed gets TCG and a hint.
    """
    forced = os.environ.get("KERNELMAGIC_ACCEL", "").strip().lower()
    if forced:
        if forced not in ("kvm", "tcg"):
            raise KernelMagicError(
                f"KERNELMAGIC_ACCEL={forced!r} is not understood; use kvm or tcg"
            )
        return AccelChoice(forced, "forced by KERNELMAGIC_ACCEL")
    usable, why = kvm_usable()
    if not usable:
        return AccelChoice("tcg", f"{why}; using TCG (software emulation)")
    known = recorded()
    if known is not None:
        return known
    if not probe_if_unknown or boot is None:
        return AccelChoice("tcg", "KVM not probed yet (run `kernelmagic vm probe-accel`)")
    choice = probe(boot)
    record(choice)
    return choice


def probe(boot: KVMBoot, timeout: float = PROBE_TIMEOUT) -> AccelChoice:
    """Run ``boot`` under KVM and turn how it went into a verdict (not recorded here)."""
    usable, why = kvm_usable()
    if not usable:
        return AccelChoice("tcg", f"{why}; using TCG (software emulation)")
    try:
        seconds = boot(timeout)
    except SetupError:
        raise  # no bundle or no QEMU says nothing about KVM: do not record a verdict
    except (VMError, AgentError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.info("KVM probe failed: %s", exc)
        return AccelChoice(
            "tcg", f"a KVM boot failed here ({first}); using TCG (software emulation)"
        )
    return AccelChoice("kvm", f"a KVM boot reached the guest agent in {seconds:.1f} s")
