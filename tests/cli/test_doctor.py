# SPDX-License-Identifier: MIT
"""doctor.py: which hosts are turned away and why, and the exit status of the report."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kernelmagic.cli import doctor
from kernelmagic.machine import accel
from kernelmagic.machine.accel import AccelChoice

DEBIAN = {"ID": "debian", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A supported host; each test changes one thing."""
    monkeypatch.setattr(doctor.platform, "system", lambda: "Linux")
    monkeypatch.setattr(doctor.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(doctor.platform, "release", lambda: "6.1.0-56-amd64")
    monkeypatch.setattr(doctor, "_os_release", lambda: dict(DEBIAN))
    monkeypatch.setattr(doctor.os.path, "exists", lambda path: True)
    return monkeypatch


def test_supported(host: pytest.MonkeyPatch) -> None:
    assert doctor.unsupported_host_reason() == ""


def test_macos(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor.platform, "system", lambda: "Darwin")
    assert doctor.unsupported_host_reason().startswith("macOS is not supported yet")


def test_windows(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor.platform, "system", lambda: "Windows")
    assert "Windows is not supported yet" in doctor.unsupported_host_reason()


def test_aarch64(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor.platform, "machine", lambda: "aarch64")
    reason = doctor.unsupported_host_reason()
    assert reason.startswith("aarch64 hosts are not supported") and "x86-64" in reason


def test_not_debian(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor, "_os_release", lambda: {"ID": "fedora", "PRETTY_NAME": "Fedora 40"})
    reason = doctor.unsupported_host_reason()
    assert reason.startswith("Fedora 40 is not supported yet") and "Debian 12" in reason


def test_no_os_release(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor, "_os_release", lambda: {})
    assert "this distribution is not supported" in doctor.unsupported_host_reason()


def test_wsl_without_kvm(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor.platform, "release", lambda: "5.15.153.1-microsoft-standard-WSL2")
    host.setattr(doctor.os.path, "exists", lambda path: path != "/dev/kvm")
    assert "WSL without nested virtualisation" in doctor.unsupported_host_reason()


def test_wsl_with_kvm(host: pytest.MonkeyPatch) -> None:
    host.setattr(doctor.platform, "release", lambda: "5.15.153.1-microsoft-standard-WSL2")
    assert doctor.unsupported_host_reason() == ""


def test_os_release_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
        'VERSION_ID="12"\nID=debian\n\n# comment\n'
    )
    monkeypatch.setattr(doctor, "Path", lambda path: os_release)
    assert doctor._os_release() == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "NAME": "Debian GNU/Linux",
        "VERSION_ID": "12",
        "ID": "debian",
    }
    monkeypatch.setattr(doctor, "Path", lambda path: tmp_path / "missing")
    assert doctor._os_release() == {}


# -- run_doctor ----------------------------------------------------------------------


@pytest.fixture
def ready(host: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Every tool present, KVM probed, a bundle built, in a tmp KERNELMAGIC_HOME."""
    home = tmp_path / "km"
    host.setenv("KERNELMAGIC_HOME", str(home))
    host.delenv("KERNELMAGIC_ACCEL", raising=False)
    host.setattr(shutil, "which", lambda name, **kw: f"/usr/bin/{name}")

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 0, f"{Path(argv[0]).name} 1.0\n", "")

    host.setattr(doctor.subprocess, "run", fake_run)
    host.setattr(accel, "kvm_usable", lambda: (True, "/dev/kvm is usable"))
    host.setattr(accel, "host_key", lambda qemu=accel.QEMU: "test host")
    accel.record(AccelChoice("kvm", "a KVM boot reached the guest agent in 0.4 s"))
    release = "6.1.0-56-amd64"
    root = home / "bundle" / release
    kbuild = root / "kbuild" / "usr" / "src" / f"linux-headers-{release}"
    kbuild.mkdir(parents=True)
    (kbuild / "Makefile").write_text("")
    (root / "vmlinux").write_bytes(b"\x7fELF")
    (root / "initramfs.cpio").write_bytes(b"070701")
    (root / "manifest.json").write_text(json.dumps({"format": 2}))
    (home / "bundle" / "current").write_text(release)
    return host


def test_run_doctor_all_set(ready: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.run_doctor() == 0
    out = capsys.readouterr().out
    assert "all set" in out and "!!" not in out
    assert "ok gcc-12: gcc-12 1.0" in out
    assert "ok VM bundle: kernel 6.1.0-56-amd64" in out


def test_run_doctor_missing_tool(
    ready: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.setattr(
        shutil, "which", lambda name, **kw: None if name == "gcc-12" else f"/usr/bin/{name}"
    )
    assert doctor.run_doctor() == 1
    out = capsys.readouterr().out
    assert "!! gcc-12: missing" in out
    assert "fix: sudo apt-get install gcc-12" in out
    assert "make setup" in out


def test_run_doctor_optional_tool_missing(
    ready: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.setattr(shutil, "which", lambda name, **kw: None if name == "gdb" else f"/usr/bin/{name}")
    assert doctor.run_doctor() == 0
    assert "-- gdb: missing" in capsys.readouterr().out


def test_run_doctor_without_bundle(
    ready: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "km" / "bundle" / "current").unlink()
    assert doctor.run_doctor() == 1
    out = capsys.readouterr().out
    assert "!! VM bundle: no lab VM bundle" in out and "fix: kernelmagic vm build" in out


def test_run_doctor_unsupported_host(
    ready: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ready.setattr(doctor.platform, "system", lambda: "Darwin")
    assert doctor.run_doctor() == 1
    assert capsys.readouterr().out.startswith("host: macOS is not supported yet")


def test_cache_sizes(ready: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "km" / "builds" / "x").mkdir(parents=True)
    (tmp_path / "km" / "builds" / "x" / "x.ko").write_bytes(b"\0" * 1000)
    sizes = doctor.cache_sizes()
    assert sizes["module builds"] == 1000
    assert sizes["downloaded packages"] == 0
    assert sizes["total"] >= sizes["module builds"] + sizes["bundle"]
