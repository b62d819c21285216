# SPDX-License-Identifier: MIT
"""The cap on running lab VMs with real QEMUs: one slot, two VMs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from kernelmagic.errors import VMLimitReached
from kernelmagic.machine import slots
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.slots import VMSlots, count_busy
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration


def test_one_slot_lets_one_vm_run_at_a_time(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = tmp_path / "vm-slots"
    VMSlots.create(pool, 1)
    monkeypatch.setenv(slots.ENV_SLOTS, str(pool))
    monkeypatch.delenv(slots.ENV_PER_LEARNER, raising=False)
    first, second = LabVM(bundle), LabVM(bundle)
    try:
        first.start()
        assert count_busy(pool) == (1, 1)
        with pytest.raises(VMLimitReached) as refused:
            second.start()
        assert str(refused.value) == (
            "All 1 lab VMs of this course server are running; stop a VM you no longer "
            "need (`%vm stop` in another notebook, or shut its kernel down) or try again "
            "in a few minutes."
        )
        assert not second.is_running() and second.status().pid is None

        held = first._slots
        first.restart()  # keeps its slot: nothing else could have taken it meanwhile
        assert first.is_running() and first._slots is held and count_busy(pool) == (1, 1)

        first.stop()
        assert count_busy(pool) == (0, 1)
        second.start()
        assert second.exec(["true"]).exit_code == 0
        with pytest.raises(VMLimitReached):
            first.start()

        # A QEMU that dies on its own gives its slot back once anything looks at the VM.
        pid = second.status().pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while second.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not second.is_running() and count_busy(pool) == (0, 1)
        first.start()
        pids = [pid, first.status().pid]
    finally:
        first.stop()
        second.stop()
    assert count_busy(pool) == (0, 1)
    assert not [p for p in pids if p and Path(f"/proc/{p}").exists()]  # no QEMU left
