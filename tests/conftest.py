# SPDX-License-Identifier: MIT
"""Shared fixtures. Integration tests need the built VM bundle (``make setup`` builds it).

Without a bundle they fail rather than skip, so a CI run that lost its setup step cannot
pass quietly; set KERNELMAGIC_SKIP_VM=1 to skip them on purpose (say, on a laptop
without the bundle).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import SetupError
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.process import RUNTIME_PREFIX
from kernelmagic.machine.vm import LabVM


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``KERNELMAGIC_HOME`` (bundle, builds, accelerator verdict) for one test."""
    home = tmp_path / "km"
    monkeypatch.setenv("KERNELMAGIC_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    if os.environ.get("KERNELMAGIC_SKIP_VM") == "1":
        pytest.skip("KERNELMAGIC_SKIP_VM=1")
    try:
        return Bundle.load()
    except SetupError as exc:
        pytest.fail(f"integration tests need the VM bundle: {exc}")


@pytest.fixture(scope="module")
def lab_vm(bundle: Bundle) -> Iterator[LabVM]:
    """One VM for a test module; always stopped, whatever the tests did to it."""
    vm = LabVM(bundle)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


#: Set for this run and inherited by everything it starts (Jupyter kernels, QEMU), so the
#: leak check below counts only this run's processes, not other runs on a shared machine.
RUN_MARK = f"KERNELMAGIC_TEST_RUN={os.getpid()}-{time.time_ns()}"
os.environ["KERNELMAGIC_TEST_RUN"] = RUN_MARK.partition("=")[2]


def _ours(pid: int | str) -> bool:
    """Whether a live process carries this run's mark (then it was started by this run)."""
    try:
        return RUN_MARK.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _qemu_pids() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            program = cmdline.split(b"\0")[0]
            if b"qemu-system" in program.rsplit(b"/", 1)[-1] and _ours(proc.name):
                pids.add(int(proc.name))
    return pids


def _runtime_dirs() -> set[Path]:
    """Runtime dirs whose owner is this run's, or whose owner is gone (left behind)."""
    found = set()
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*"):
        try:
            owner = (folder / "owner.pid").read_text().strip()
        except OSError:
            continue
        if not Path(f"/proc/{owner}").exists() or _ours(owner):
            found.add(folder)
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the whole run, no QEMU and no runtime dir that the tests created may remain."""
    dirs = _runtime_dirs()
    yield
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        left_qemus, left_dirs = _qemu_pids(), _runtime_dirs() - dirs
        if not left_qemus and not left_dirs:
            return
        time.sleep(0.2)
    pytest.fail(f"left behind: QEMU pids {sorted(left_qemus)}, folders {sorted(left_dirs)}")
