# SPDX-License-Identifier: MIT
"""The lab VM without QEMU: the command line, stale runtime folders, guest paths, and
stop/kill when there is no (or only a stand-in) process."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from kernelmagic.errors import VMError, VMNotRunning
from kernelmagic.machine import cmdline, process
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.process import QEMUProcess
from kernelmagic.machine.vm import LabVM
from kernelmagic.procs import pid_alive

RELEASE = "6.1.0-56-amd64"
FDS = {"console": 7, "qga": 8, "qmp": 9}


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return Bundle(tmp_path / "bundle" / RELEASE, RELEASE, {})


def option(argv: list[str], flag: str) -> list[str]:
    """Every value given to ``flag``."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]


# -- qemu_argv -----------------------------------------------------------------------


def test_qemu_argv_tcg(bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cmdline, "QBOOT", str(tmp_path / "no-qboot.rom"))
    share = tmp_path / "share"
    vm = LabVM(bundle, memory_mb=512, cpus=2, share_dir=share, tcg_cpu="qemu64")
    argv = vm.qemu_argv("tcg", FDS)
    assert argv[0] == "qemu-system-x86_64"
    assert {"-nodefaults", "-no-user-config", "-nographic", "-no-reboot"} <= set(argv)
    assert option(argv, "-machine") == ["pc,accel=tcg"]
    assert option(argv, "-cpu") == ["qemu64"]
    assert option(argv, "-m") == ["512M"]
    assert option(argv, "-smp") == ["2"]
    assert option(argv, "-kernel") == [str(bundle.root / "vmlinux")]
    assert option(argv, "-initrd") == [str(bundle.root / "initramfs.cpio")]
    assert option(argv, "-append") == [cmdline.KERNEL_CMDLINE]
    assert option(argv, "-chardev") == [
        "socket,id=console,fd=7",
        "socket,id=qga,fd=8",
        "socket,id=qmp,fd=9",
    ]
    assert option(argv, "-serial") == ["chardev:console", "chardev:qga"]
    assert option(argv, "-mon") == ["chardev=qmp,mode=control"]
    assert "-bios" not in argv
    assert option(argv, "-fsdev") == [
        f"local,id=kmshare,path={share},security_model=none,readonly=on"
    ]
    assert option(argv, "-device") == ["virtio-9p-pci,fsdev=kmshare,mount_tag=kmshare"]


def test_qemu_argv_kvm_shell_qboot(
    bundle: Bundle, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    qboot = tmp_path / "qboot.rom"
    qboot.write_bytes(b"rom")
    monkeypatch.setattr(cmdline, "QBOOT", str(qboot))
    vm = LabVM(bundle, console_shell=True, extra_cmdline="loglevel=8", qemu="/opt/qemu")
    argv = vm.qemu_argv("kvm", FDS)
    assert argv[0] == "/opt/qemu"
    assert option(argv, "-machine") == ["pc,accel=kvm"]
    assert option(argv, "-cpu") == ["host"]
    assert option(argv, "-m") == ["256M"] and option(argv, "-smp") == ["2"]
    assert option(argv, "-bios") == [str(qboot)]
    (append,) = option(argv, "-append")
    assert append.startswith(cmdline.KERNEL_CMDLINE)
    assert append.endswith(" kernelmagic.shell=1 loglevel=8")
    (fsdev,) = option(argv, "-fsdev")
    assert f"path={home / 'builds'}," in fsdev  # the build cache is shared by default


def test_kernel_cmdline_basics() -> None:
    words = cmdline.KERNEL_CMDLINE.split()
    assert "console=ttyS0,115200" in words and "panic=-1" in words
    assert len(words) == len(set(words))


# -- stale runtime folders -----------------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_clean_stale_runtime_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    dead = _dead_pid()

    def runtime(name: str, owner: str | None) -> Path:
        folder = tmp / name
        folder.mkdir()
        (folder / "qemu.log").write_text("log")
        if owner is not None:
            (folder / "owner.pid").write_text(owner)
        return folder

    stale = runtime(f"{process.RUNTIME_PREFIX}stale", f"{dead}\n")
    live = runtime(f"{process.RUNTIME_PREFIX}live", f"{os.getpid()}\n")
    starting = runtime(f"{process.RUNTIME_PREFIX}starting", None)  # owner.pid not written yet
    garbled = runtime(f"{process.RUNTIME_PREFIX}garbled", "not a pid")
    foreign = runtime("something-else", f"{dead}\n")

    process.clean_stale_runtime_dirs()
    assert not stale.exists()
    assert live.exists() and starting.exists() and garbled.exists() and foreign.exists()


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(_dead_pid())


# -- guest_path ----------------------------------------------------------------------


class ExecRecorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], **kwargs: object) -> ExecResult:
        self.calls.append(list(argv))
        return ExecResult(0)


def test_guest_path(bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    share = tmp_path / "share"
    (share / "hello-0123").mkdir(parents=True)
    vm = LabVM(bundle, share_dir=share)
    recorder = ExecRecorder()
    monkeypatch.setattr(vm, "exec", recorder)
    ko = share / "hello-0123" / "hello.ko"
    assert vm.guest_path(ko) == "/mnt/host/hello-0123/hello.ko"
    assert vm.guest_path(share / "x" / ".." / "top.ko") == "/mnt/host/top.ko"
    assert recorder.calls == [["/usr/local/sbin/kernelmagic-mount-share"]]  # mounted once


def test_guest_path_through_symlink(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    vm = LabVM(bundle, share_dir=tmp_path / "link")
    monkeypatch.setattr(vm, "exec", ExecRecorder())
    assert vm.guest_path(real / "a.ko") == "/mnt/host/a.ko"
    assert vm.guest_path(tmp_path / "link" / "b.ko") == "/mnt/host/b.ko"


def test_guest_path_default_share(
    bundle: Bundle, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = LabVM(bundle)
    monkeypatch.setattr(vm, "exec", ExecRecorder())
    assert vm.guest_path(home / "builds" / "m-1" / "m.ko") == "/mnt/host/m-1/m.ko"


def test_guest_path_outside_share(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vm = LabVM(bundle, share_dir=tmp_path / "share")
    recorder = ExecRecorder()
    monkeypatch.setattr(vm, "exec", recorder)
    for outside in (tmp_path / "elsewhere.ko", tmp_path / "share" / ".." / "escape.ko"):
        with pytest.raises(VMError, match="not inside the shared folder"):
            vm.guest_path(outside)
    assert recorder.calls == []


# -- stop / kill ---------------------------------------------------------------------


def test_stop_and_kill_without_process(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    vm.stop()
    vm.stop()
    vm.kill()
    vm.kill()
    assert not vm.is_running()
    assert vm.log_text() == ""
    status = vm.status()
    assert (status.running, status.pid, status.runtime_dir) == (False, None, None)
    assert status.kernel_release == RELEASE
    with pytest.raises(VMNotRunning):
        vm.exec(["true"])
    with pytest.raises(VMNotRunning):
        _ = vm.console


def test_stop_cleans_runtime_dir(bundle: Bundle, tmp_path: Path) -> None:
    vm = LabVM(bundle)
    runtime = tmp_path / f"{process.RUNTIME_PREFIX}x"
    runtime.mkdir()
    (runtime / "qemu.log").write_text("qemu-system-x86_64: warning\n")
    exited = subprocess.Popen(["true"], start_new_session=True)
    exited.wait()
    vm._qemu = QEMUProcess(exited, runtime=runtime)
    assert vm.log_text() == "qemu-system-x86_64: warning\n"
    vm.stop()
    assert not runtime.exists()
    vm.stop()


def test_stop_without_monitor_terminates(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    vm._qemu = QEMUProcess(proc)  # type: ignore[arg-type]
    assert vm.is_running()
    vm.stop(timeout=0.1)
    assert proc.returncode == -15
    assert not vm.is_running()
    vm.stop()


def test_stop_escalates_to_kill(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo ready; exec sleep 30"],
        stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    vm._qemu = QEMUProcess(proc)  # type: ignore[arg-type]
    vm.stop(timeout=0.1)
    assert proc.returncode == -9
    proc.stdout.close()


def test_kill_running_process(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    vm._qemu = QEMUProcess(proc)  # type: ignore[arg-type]
    vm.kill()
    assert proc.returncode == -9
    vm.kill()


def test_stop_after_process_exited(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    proc = subprocess.Popen(["true"], start_new_session=True)
    proc.wait()
    vm._qemu = QEMUProcess(proc)  # type: ignore[arg-type]
    assert not vm.is_running()
    vm.stop()
    assert vm._qemu is None
