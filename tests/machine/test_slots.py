# SPDX-License-Identifier: MIT
"""The cap on running lab VMs: real flock locks on slot files in temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import SetupError, VMLimitReached
from kernelmagic.machine import slots
from kernelmagic.machine.slots import VMSlots, count_busy

REPO = Path(__file__).resolve().parents[2]

#: A process that takes a slot of the pool in argv[1], says so, and holds it until its
#: stdin closes (so it also ends when it runs under runuser, which a kill would not reach).
HOLDER = """
import sys
from pathlib import Path
from kernelmagic.machine.slots import VMSlots
slot = VMSlots(Path(sys.argv[1])).try_acquire()
print("held" if slot else "refused", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No pool set, and a private kernelmagic home (where a learner's pool lives)."""
    monkeypatch.delenv(slots.ENV_SLOTS, raising=False)
    monkeypatch.delenv(slots.ENV_PER_LEARNER, raising=False)
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; each is told to end (its stdin closes) and reaped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def hold_in_process(
    pool: Path, holders: list[subprocess.Popen[str]], *, user: str | None = None
) -> str:
    """Start a process that tries to hold a slot of ``pool``; its answer."""
    python = [sys.executable]
    if user is not None:  # the venv's Python lives under /root: use the system's one
        python = ["runuser", "-u", user, "--", "env", f"PYTHONPATH={REPO}", "/usr/bin/python3"]
    proc = subprocess.Popen([*python, "-c", HOLDER, str(pool)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=REPO)  # fmt: skip
    holders.append(proc)
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def test_a_pool_gives_each_slot_once_and_takes_it_back(env: Path) -> None:
    pool = VMSlots.create(env / "pool", 2)
    first, second = pool.try_acquire(), pool.try_acquire()
    assert first is not None and second is not None and first.path != second.path
    assert pool.try_acquire() is None
    assert count_busy(env / "pool") == (2, 2)
    first.release()
    first.release()  # safe twice
    assert count_busy(env / "pool") == (1, 2)
    again = pool.try_acquire()
    assert again is not None and again.path == first.path
    again.release()
    second.release()
    assert count_busy(env / "pool") == (0, 2)


def test_counting_takes_nothing_away(env: Path) -> None:
    pool = VMSlots.create(env / "pool", 3)
    held = pool.try_acquire()
    assert count_busy(env / "pool") == (1, 3)
    assert count_busy(env / "pool") == (1, 3)  # the probe released what it tried
    assert held is not None and held.held
    others = [pool.try_acquire(), pool.try_acquire()]
    assert all(others) and pool.try_acquire() is None
    for slot in [held, *others]:
        assert slot is not None
        slot.release()


def test_create_makes_read_only_files_and_trims_a_smaller_pool(env: Path) -> None:
    VMSlots.create(env / "pool", 3)
    names = sorted(p.name for p in (env / "pool").iterdir())
    assert names == ["slot-000", "slot-001", "slot-002"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in (env / "pool").iterdir()} == {0o444}
    VMSlots.create(env / "pool", 1)
    assert count_busy(env / "pool") == (0, 1)
    assert count_busy(env / "missing") == (0, 0)


def test_a_slot_is_held_across_processes_and_freed_when_its_holder_dies(
    env: Path, holders: list[subprocess.Popen[str]]
) -> None:
    VMSlots.create(env / "pool", 1)
    assert hold_in_process(env / "pool", holders) == "held"
    assert count_busy(env / "pool") == (1, 1)
    assert VMSlots(env / "pool").try_acquire() is None
    assert hold_in_process(env / "pool", holders) == "refused"
    os.kill(holders[0].pid, signal.SIGKILL)  # no cleanup runs: the kernel drops the lock
    holders[0].wait(10)
    assert count_busy(env / "pool") == (0, 1)
    slot = VMSlots(env / "pool").try_acquire()
    assert slot is not None
    slot.release()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make the pool and run as nobody")
def test_an_unprivileged_learner_locks_the_administrators_read_only_files(
    holders: list[subprocess.Popen[str]],
) -> None:
    pool = Path(tempfile.mkdtemp(prefix="km-slots-"))  # pytest's tmp_path is 0700
    try:
        VMSlots.create(pool, 1)  # as the install makes it: root-owned 0444 files, 0755 folder
        assert os.stat(pool / "slot-000").st_uid == 0
        assert hold_in_process(pool, holders, user="nobody") == "held"
        assert hold_in_process(pool, holders, user="nobody") == "refused"
        assert count_busy(pool) == (1, 1)
        removed = subprocess.run(["runuser", "-u", "nobody", "--", "rm", "-f",
                                  str(pool / "slot-000")], capture_output=True)  # fmt: skip
        assert removed.returncode != 0 and (pool / "slot-000").exists()
    finally:
        for proc in holders:  # before the folder goes
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(10)
        shutil.rmtree(pool)


def test_nothing_is_counted_without_the_environment(env: Path) -> None:
    hold = slots.acquire()
    assert hold.slots == [] and not hold.held
    hold.release()
    assert not (env / "home" / "vm-slots").exists()


def test_a_learner_at_their_own_limit_is_told_so(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(slots.ENV_PER_LEARNER, "2")
    first, second = slots.acquire(), slots.acquire()
    with pytest.raises(VMLimitReached) as refused:
        slots.acquire()
    message = str(refused.value)
    assert message.startswith("You already run 2 lab VMs (one per open notebook)")
    assert "`%vm stop`" in message and "\n" not in message
    folder = env / "home" / "vm-slots"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert count_busy(folder) == (2, 2)
    first.release()
    third = slots.acquire()
    assert third.held
    for hold in (second, third):
        hold.release()
    assert count_busy(folder) == (0, 2)


def test_a_full_server_refuses_and_gives_back_the_learners_slot(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    VMSlots.create(env / "server", 1)
    monkeypatch.setenv(slots.ENV_SLOTS, str(env / "server"))
    monkeypatch.setenv(slots.ENV_PER_LEARNER, "2")
    running = slots.acquire()
    assert len(running.slots) == 2  # one of the learner's, one of the server's
    with pytest.raises(VMLimitReached) as refused:
        slots.acquire()
    assert str(refused.value).startswith("All 1 lab VMs of this course server are running;")
    assert count_busy(env / "home" / "vm-slots") == (1, 2)  # the refused start kept none
    running.release()
    assert count_busy(env / "server") == (0, 1)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_per_learner_limit_is_a_setup_error(
    env: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(slots.ENV_PER_LEARNER, value)
    with pytest.raises(SetupError, match=f"KERNELMAGIC_VMS_PER_LEARNER .*{value!r}"):
        slots.acquire()


def test_a_server_pool_without_slot_files_is_a_setup_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(slots.ENV_SLOTS, str(env / "nowhere"))
    with pytest.raises(SetupError, match="holds no VM slot files") as refused:
        slots.acquire()
    assert not isinstance(refused.value, VMLimitReached)
