# SPDX-License-Identifier: MIT
"""A full course server, as a learner's notebook shows it: one line, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import VMLimitReached
from kernelmagic.machine import slots
from kernelmagic.machine.slots import SlotHold, VMSlots
from tests.doubles.fake_lab import Lab, make_lab

FULL = (
    "VMLimitReached\x1b[0m: All 1 lab VMs of this course server are running; stop a VM "
    "you no longer need (`%vm stop` in another notebook, or shut its kernel down) or try "
    "again in a few minutes."
)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A fake VM that takes a slot of a one-slot server pool when it starts, as LabVM does."""
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path))
    monkeypatch.delenv(slots.ENV_PER_LEARNER, raising=False)
    monkeypatch.setenv(slots.ENV_SLOTS, str(VMSlots.create(tmp_path / "pool", 1).directory))
    lab = make_lab(tmp_path)
    held: list[SlotHold] = []
    start, stop = lab.vm.start, lab.vm.stop

    def start_in_a_slot() -> None:
        if not lab.vm.running:
            held.append(slots.acquire())
        start()

    def stop_and_free(timeout: float = 5.0) -> None:
        stop(timeout)
        while held:
            held.pop().release()

    monkeypatch.setattr(lab.vm, "start", start_in_a_slot)
    monkeypatch.setattr(lab.vm, "stop", stop_and_free)
    yield lab
    lab.session.shutdown()
    for hold in held:
        hold.release()


def failed_line(lab: Lab, capsys: pytest.CaptureFixture[str], cell: str) -> str:
    capsys.readouterr()
    result = lab.run(cell)
    assert isinstance(result.error_in_exec, VMLimitReached)
    out = capsys.readouterr().out.strip()
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    return out


def test_a_full_server_is_one_line_for_vm_start_and_a_load(
    lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = VMSlots(tmp_path / "pool").try_acquire()  # another learner's VM runs
    assert other is not None
    assert failed_line(lab, capsys, "%vm start").endswith(FULL)
    cell = '%%kmodule hello --load\nMODULE_LICENSE("GPL");\n'
    assert failed_line(lab, capsys, cell).endswith(FULL)
    assert not lab.vm.is_running() and lab.vm.starts == 0

    other.release()  # that VM stopped: the learner's next try works
    assert repr(lab.run("%vm start").result).startswith("lab VM ready")
    assert VMSlots(tmp_path / "pool").try_acquire() is None
    assert repr(lab.run("%vm stop").result).startswith("lab VM stopped")
    assert slots.count_busy(tmp_path / "pool") == (0, 1)
