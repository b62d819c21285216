# SPDX-License-Identifier: MIT
"""A boot that hangs (as KVM does under nested virtualisation here) is killed at its deadline."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kernelmagic.errors import BootTimeout
from kernelmagic.machine import accel
from kernelmagic.machine import vm as vm_module
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM


@pytest.fixture
def hanging_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 'QEMU' that starts and never answers, recording its pid."""
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERNELMAGIC_SNAPSHOT", "0")
    script = tmp_path / "qemu-system-x86_64"
    script.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/qemu.pid\nexec sleep 300\n")
    script.chmod(0o755)
    return script


def _fake_bundle(tmp_path: Path) -> Bundle:
    root = tmp_path / "bundle"
    root.mkdir()
    for name in ("vmlinux", "initramfs.cpio"):
        (root / name).write_bytes(b"x")
    return Bundle(root, "6.1.0-0-amd64", {"format": 2, "files": {}})


def test_hung_boot_is_killed_at_its_deadline(tmp_path: Path, hanging_qemu: Path) -> None:
    vm = LabVM(_fake_bundle(tmp_path), accel="kvm", boot_timeout=1.5, qemu=str(hanging_qemu))
    started = time.monotonic()
    with pytest.raises(BootTimeout, match="did not reach its guest agent within 2 s"):
        vm.start()
    assert time.monotonic() - started < 10
    pid = int((tmp_path / "qemu.pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert not vm.is_running()
    assert vm.status().runtime_dir is None


def test_probe_records_tcg_when_the_kvm_boot_hangs(
    tmp_path: Path, hanging_qemu: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _fake_bundle(tmp_path)
    monkeypatch.setattr(accel, "kvm_usable", lambda: (True, "/dev/kvm is usable"))
    monkeypatch.setattr(accel, "QEMU", str(hanging_qemu))
    real = vm_module.LabVM
    monkeypatch.setattr(
        vm_module, "LabVM",
        lambda **kw: real(bundle, qemu=str(hanging_qemu), **kw),
    )  # fmt: skip
    choice = vm_module.probe_accel(timeout=1.0)
    assert choice.accel == "tcg"
    assert "did not reach its guest agent" in choice.reason
    pid = int((tmp_path / "qemu.pid").read_text())
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()
    assert os.environ["KERNELMAGIC_SNAPSHOT"] == "0"
