# SPDX-License-Identifier: MIT
"""accel.py: forcing, the recorded verdict keyed by host, the /dev/kvm check, and how a
probe boot (a function the VM layer passes in) becomes a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernelmagic.errors import AgentTimeout, BootTimeout, BundleMissing, KernelMagicError
from kernelmagic.machine import accel
from kernelmagic.machine.accel import AccelChoice

#: The real probe, which the autouse fixture below replaces in the module.
real_probe = accel.probe


@pytest.fixture(autouse=True)
def no_probe_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("KERNELMAGIC_ACCEL", raising=False)
    monkeypatch.setattr(accel, "host_key", lambda qemu=accel.QEMU: "6.1.0-56-amd64 | QEMU 7.2")

    def no_probe(boot: accel.KVMBoot, timeout: float = 0) -> AccelChoice:
        raise AssertionError("the probe must not run")

    monkeypatch.setattr(accel, "probe", no_probe)
    return home


@pytest.fixture
def kvm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "kvm_usable", lambda: (True, "/dev/kvm is usable"))


@pytest.mark.parametrize("value", ["kvm", "tcg", " KVM ", "Tcg"])
def test_forced(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNELMAGIC_ACCEL", value)
    # Forcing wins even over a recorded verdict and a missing /dev/kvm.
    accel.record(AccelChoice("tcg" if value.strip().lower() == "kvm" else "kvm", "recorded"))
    monkeypatch.setattr(accel, "kvm_usable", lambda: (False, "no /dev/kvm on this host"))
    choice = accel.choose()
    assert choice == AccelChoice(value.strip().lower(), "forced by KERNELMAGIC_ACCEL")


def test_forced_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERNELMAGIC_ACCEL", "hvf")
    with pytest.raises(KernelMagicError, match=r"KERNELMAGIC_ACCEL='hvf'.*kvm or tcg"):
        accel.choose()


def test_record_round_trip(home: Path) -> None:
    choice = AccelChoice("kvm", "a KVM boot reached the guest agent in 0.4 s")
    accel.record(choice)
    path = home / "accel.json"
    data = json.loads(path.read_text())
    assert data == {"accel": "kvm", "reason": choice.reason, "host": "6.1.0-56-amd64 | QEMU 7.2"}
    assert accel.recorded() == choice
    assert [p.name for p in home.iterdir()] == ["accel.json"]  # no temporary left behind


def test_recorded_for_another_host_is_ignored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accel.record(AccelChoice("kvm", "probed"))
    monkeypatch.setattr(accel, "host_key", lambda qemu=accel.QEMU: "6.12.0-1-amd64 | QEMU 9.2")
    assert accel.recorded() is None


def test_recorded_missing_or_damaged(home: Path) -> None:
    assert accel.recorded() is None
    home.mkdir(parents=True)
    (home / "accel.json").write_text("{not json")
    assert accel.recorded() is None


def test_recorded_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "verdict.json"
    accel.record(AccelChoice("tcg", "KVM hung"), path)
    assert accel.recorded(path) == AccelChoice("tcg", "KVM hung")


def test_choose_uses_recorded_verdict(kvm: None) -> None:
    accel.record(AccelChoice("tcg", "a KVM boot failed here"))
    assert accel.choose() == AccelChoice("tcg", "a KVM boot failed here")


def test_choose_unprobed_without_probe(kvm: None) -> None:
    choice = accel.choose(probe_if_unknown=False)
    assert choice.accel == "tcg"
    assert "kernelmagic vm probe-accel" in choice.reason
    assert accel.choose(fail_boot, probe_if_unknown=False) == choice
    assert accel.choose() == choice, "without a boot function there is nothing to probe"


def fail_boot(timeout: float) -> float:
    raise AssertionError("the boot must not run")


def test_choose_probes_once_and_records(
    kvm: None, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[accel.KVMBoot] = []

    def probe(boot: accel.KVMBoot, timeout: float = 0) -> AccelChoice:
        probes.append(boot)
        return AccelChoice("kvm", "a KVM boot reached the guest agent in 0.3 s")

    monkeypatch.setattr(accel, "probe", probe)
    assert accel.choose(fail_boot).accel == "kvm"
    assert accel.choose(fail_boot).accel == "kvm"
    assert probes == [fail_boot]
    assert (home / "accel.json").is_file()


def test_choose_without_kvm_is_tcg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel.os.path, "exists", lambda path: path != "/dev/kvm")
    choice = accel.choose()
    assert choice.accel == "tcg"
    assert "no /dev/kvm" in choice.reason


def test_kvm_usable_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel.os.path, "exists", lambda path: False)
    assert accel.kvm_usable() == (False, "no /dev/kvm on this host")


def test_kvm_usable_no_permission(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel.os.path, "exists", lambda path: True)
    monkeypatch.setattr(accel.os, "access", lambda path, mode: False)
    usable, why = accel.kvm_usable()
    assert not usable and "kvm group" in why


def test_kvm_usable_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel.os.path, "exists", lambda path: True)
    monkeypatch.setattr(accel.os, "access", lambda path, mode: True)
    assert accel.kvm_usable() == (True, "/dev/kvm is usable")


def test_probe_verdict_from_a_boot(kvm: None) -> None:
    seen: list[float] = []

    def boot(timeout: float) -> float:
        seen.append(timeout)
        return 0.42

    assert real_probe(boot, timeout=7.0) == AccelChoice(
        "kvm", "a KVM boot reached the guest agent in 0.4 s"
    )
    assert seen == [7.0]


@pytest.mark.parametrize(
    ("error", "first"),
    [
        (BootTimeout("did not reach its guest agent within 15 s\nmore"), "did not reach"),
        (AgentTimeout(), "AgentTimeout"),
    ],
)
def test_probe_failed_boot_means_tcg(kvm: None, error: Exception, first: str) -> None:
    def boot(timeout: float) -> float:
        raise error

    choice = real_probe(boot)
    assert choice.accel == "tcg"
    assert choice.reason.startswith(f"a KVM boot failed here ({first}")
    assert choice.reason.endswith("); using TCG (software emulation)")
    assert "more" not in choice.reason, "only the first line of the error"


def test_probe_setup_errors_are_not_a_verdict(kvm: None) -> None:
    def boot(timeout: float) -> float:
        raise BundleMissing("no lab VM bundle")

    with pytest.raises(BundleMissing):
        real_probe(boot)


def test_probe_without_kvm_does_not_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accel, "kvm_usable", lambda: (False, "no /dev/kvm on this host"))
    choice = real_probe(fail_boot)
    assert choice == AccelChoice("tcg", "no /dev/kvm on this host; using TCG (software emulation)")


def test_qemu_version_of_missing_binary(tmp_path: Path) -> None:
    assert accel.qemu_version(str(tmp_path / "qemu-system-x86_64")) == "unknown"


def test_qemu_version_first_line(tmp_path: Path) -> None:
    fake = tmp_path / "qemu"
    fake.write_text("#!/bin/sh\necho 'QEMU emulator version 7.2.19'\necho Copyright\n")
    fake.chmod(0o755)
    assert accel.qemu_version(str(fake)) == "QEMU emulator version 7.2.19"
