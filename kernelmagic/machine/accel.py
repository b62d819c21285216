# SPDX-License-Identifier: MIT
"""Choosing the accelerator: KVM when a KVM boot really works here, else TCG.

``/dev/kvm`` existing is not enough: under nested virtualisation a KVM boot can hang
silently (seen on our own machines). So the verdict comes from a real boot that must
reach the guest agent within a deadline; ``make setup`` runs it once and records it,
keyed by host kernel and QEMU version, so no lab start pays for the probe.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import AgentError, KernelMagicError, SetupError, VMError

log = logging.getLogger(__name__)

QEMU = "qemu-system-x86_64"
PROBE_TIMEOUT = 15.0


@dataclass(frozen=True)
class AccelChoice:
    """Which accelerator to use and why, in words a learner can read."""

    accel: str
    reason: str


@functools.lru_cache(maxsize=8)
def qemu_version(qemu: str = QEMU) -> str:
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
    path = path or paths.accel_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**asdict(choice), "host": host_key()}, indent=2) + "\n")
    os.replace(tmp, path)


def choose(*, probe_if_unknown: bool = True) -> AccelChoice:
    """The accelerator for the next boot: forced, recorded, or probed now (then recorded)."""
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
    if not probe_if_unknown:
        return AccelChoice("tcg", "KVM not probed yet (run `kernelmagic vm probe-accel`)")
    choice = probe()
    record(choice)
    return choice


def probe(timeout: float = PROBE_TIMEOUT) -> AccelChoice:
    """Boot the lab VM under KVM; a boot that does not reach the agent in time is killed."""
    from kernelmagic.machine.vm import (
        LabVM,  # the VM needs this module; import late to avoid a cycle
    )

    usable, why = kvm_usable()
    if not usable:
        return AccelChoice("tcg", f"{why}; using TCG (software emulation)")
    vm = LabVM(accel="kvm", boot_timeout=timeout, snapshot=False)
    try:
        vm.start()
    except SetupError:
        raise  # no bundle or no QEMU says nothing about KVM: do not record a verdict
    except (VMError, AgentError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.info("KVM probe failed: %s", exc)
        return AccelChoice(
            "tcg", f"a KVM boot failed here ({first}); using TCG (software emulation)"
        )
    finally:
        boot = vm.boot_seconds
        vm.stop()
    return AccelChoice("kvm", f"a KVM boot reached the guest agent in {boot:.1f} s")
