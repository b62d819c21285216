# SPDX-License-Identifier: MIT
"""One QEMU process and what ends a wait for its guest, with a shell script as 'QEMU'."""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from kernelmagic.errors import KernelCrashed, QEMUExited
from kernelmagic.machine import process
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.process import Janitor, QEMUProcess
from kernelmagic.machine.watch import CrashWatch, stops_the_guest
from tests.machine.captured import OOPS, PANIC, wire


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runtime folders go to a tmp of our own, so the session's leak check stays calm."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def script(tmp_path: Path, body: str, shell: str = "/bin/sh") -> Path:
    path = tmp_path / "fake-qemu"
    path.write_text(f"#!{shell}\n" + body)
    path.chmod(0o755)
    return path


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# -- QEMUProcess ---------------------------------------------------------------------


def test_launch_passes_one_socketpair_per_channel(tmp_path: Path, private_tmp: Path) -> None:
    # The fake writes one word into each channel fd it was given, then says goodbye
    # (bash: dash cannot redirect to a descriptor above 9).
    body = 'for fd in "$@"; do echo "hello $fd" >&"$fd"; done; echo bye\n'
    fake = script(tmp_path, body, shell="/bin/bash")
    seen: list[Mapping[str, int]] = []

    def make_argv(fds: Mapping[str, int]) -> list[str]:
        seen.append(dict(fds))
        return [str(fake), *(str(fds[name]) for name in ("a", "b"))]

    qemu = QEMUProcess.launch(["a", "b"], make_argv)
    try:
        assert qemu.runtime is not None and qemu.runtime.parent == private_tmp
        assert qemu.runtime.name.startswith(process.RUNTIME_PREFIX)
        assert (qemu.runtime / "owner.pid").is_file()
        assert set(qemu.sockets) == {"a", "b"}
        for name in ("a", "b"):
            qemu.sockets[name].settimeout(5)
            assert qemu.sockets[name].recv(100) == f"hello {seen[0][name]}\n".encode()
        qemu.proc.wait(5)
        assert not qemu.running()
        assert qemu.log_text() == "bye\n"
        assert qemu.failure_detail() == ": bye"
        assert qemu.started_at > 0
    finally:
        for sock in qemu.sockets.values():
            sock.close()
        qemu.close()
    assert qemu.runtime is None and not any(private_tmp.iterdir())
    qemu.close()  # safe twice


def test_exit_error_carries_argv_and_log_tail(tmp_path: Path) -> None:
    fake = script(
        tmp_path, 'i=0; while [ $i -lt 30 ]; do echo "line $i"; i=$((i+1)); done; exit 3\n'
    )
    qemu = QEMUProcess.launch([], lambda fds: [str(fake), "-nographic"])
    try:
        qemu.proc.wait(5)
        error = qemu.exit_error()
        assert isinstance(error, QEMUExited)
        assert str(error) == "QEMU exited with status 3: line 29"
        assert error.argv[-2:] == [str(fake), "-nographic"]
        assert error.log_tail.splitlines() == [f"line {i}" for i in range(10, 30)]
    finally:
        qemu.close()


def test_a_device_models_hardware_error_is_the_reason_not_the_register_dump(
    tmp_path: Path,
) -> None:
    fake = script(
        tmp_path,
        'echo "qemu: hardware error: EDU: DMA range 0x40001-0x41000 out of bounds"\n'
        'echo "CPU #0:"; echo "RAX=0000000000000000 RBX=0000000000000001"; echo "YMM15=00"\n'
        "exit 134\n",
    )
    qemu = QEMUProcess.launch([], lambda fds: [str(fake)])
    try:
        qemu.proc.wait(5)
        assert str(qemu.exit_error()) == (
            "QEMU exited with status 134: qemu: hardware error: EDU: DMA range "
            "0x40001-0x41000 out of bounds"
        )
    finally:
        qemu.close()


def test_a_failed_launch_leaves_nothing_behind(
    tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "with_parent_death_signal", lambda argv: argv)  # no setpriv

    def make_argv(fds: Mapping[str, int]) -> list[str]:
        return [str(tmp_path / "no-such-qemu")]

    with pytest.raises(OSError):
        QEMUProcess.launch(["console"], make_argv)
    time.sleep(0.1)  # the janitor removes nothing that is left: there is nothing
    assert not any(private_tmp.iterdir())

    def broken(fds: Mapping[str, int]) -> list[str]:
        raise RuntimeError("no bundle")

    with pytest.raises(RuntimeError):
        QEMUProcess.launch(["console"], broken)
    assert not any(private_tmp.iterdir())


def test_stop_waits_then_escalates(tmp_path: Path) -> None:
    quits = script(tmp_path, "sleep 0.2\n")
    qemu = QEMUProcess.launch([], lambda fds: [str(quits)])
    qemu.stop(timeout=5)
    assert qemu.proc.returncode == 0, "it ended by itself: no signal"
    qemu.close()

    stubborn = script(tmp_path, "trap '' TERM; echo ready; while :; do sleep 0.05; done\n")
    qemu = QEMUProcess.launch([], lambda fds: [str(stubborn)])
    wait_for(lambda: qemu.log_text() == "ready\n")
    qemu.stop(timeout=0.1)
    assert qemu.proc.returncode == -9
    qemu.close()


def test_close_kills_a_running_qemu(tmp_path: Path) -> None:
    qemu = QEMUProcess.launch([], lambda fds: [str(script(tmp_path, "exec sleep 30\n"))])
    proc = qemu.proc
    qemu.close()
    assert proc.returncode == -9


def test_janitor_removes_the_folder_when_told(tmp_path: Path) -> None:
    folder = tmp_path / "runtime"
    folder.mkdir()
    janitor = Janitor(folder)
    time.sleep(0.05)
    assert folder.exists()
    janitor.stop()  # closing our end of the pipe is what our death does too
    assert not folder.exists()
    janitor.stop()


def test_parent_death_signal_prefix() -> None:
    argv = process.with_parent_death_signal(["qemu-system-x86_64", "-m", "256M"])
    assert argv[-4:] == ["--", "qemu-system-x86_64", "-m", "256M"]
    assert argv[1:3] == ["--pdeathsig", "KILL"]


# -- CrashWatch ----------------------------------------------------------------------


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleRecorder]:
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "console.log")
    yield recorder
    recorder.stop()
    guest.close()


def running(tmp_path: Path) -> QEMUProcess:
    return QEMUProcess(subprocess.Popen(["sleep", "30"], start_new_session=True))


def test_watch_is_quiet_while_all_is_well(tmp_path: Path, console: ConsoleRecorder) -> None:
    qemu = running(tmp_path)
    try:
        watch = CrashWatch(console, qemu)
        watch()
        console._feed(wire(OOPS))  # insmod died of it; the kernel and the agent go on
        watch()
    finally:
        qemu.close()


def test_watch_raises_a_fatal_crash_once(tmp_path: Path, console: ConsoleRecorder) -> None:
    qemu = running(tmp_path)
    try:
        watch = CrashWatch(console, qemu)
        console._feed(wire(PANIC + "[    2.9] ---[ end Kernel panic - not syncing: boom ]---\n"))
        with pytest.raises(KernelCrashed, match="reported a panic: Kernel panic") as info:
            watch()
        assert info.value.report == console.crash.report  # type: ignore[union-attr]
        watch()  # raised once; the caller restarts the VM
    finally:
        qemu.close()


def test_watch_after_qemu_exited(tmp_path: Path, console: ConsoleRecorder) -> None:
    qemu = QEMUProcess(subprocess.Popen(["sh", "-c", "exit 1"]))
    qemu.proc.wait()
    console.stop()  # the console hit end of file with QEMU
    with pytest.raises(QEMUExited, match="QEMU exited with status 1"):
        CrashWatch(console, qemu)()


def test_watch_after_a_panic_killed_qemu(tmp_path: Path, console: ConsoleRecorder) -> None:
    qemu = QEMUProcess(subprocess.Popen(["sh", "-c", "exit 0"]))  # panic=-1: QEMU exits
    qemu.proc.wait()
    console._feed(wire(PANIC))
    console.stop()  # end of file completes the report that QEMU's exit cut short
    with pytest.raises(KernelCrashed, match="the lab VM's kernel crashed: Kernel panic"):
        CrashWatch(console, qemu)()


def test_stops_the_guest() -> None:
    from kernelmagic.machine.crash import parse_reports

    (oops,) = parse_reports(OOPS)
    (panic,) = parse_reports(PANIC)
    assert not stops_the_guest(oops)
    assert stops_the_guest(panic)
