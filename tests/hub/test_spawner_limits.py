# SPDX-License-Identifier: MIT
"""LearnerSpawner for real: a Unix user's server in its own cgroup with its limits."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("jupyterhub")

from jupyterhub.objects import Hub

from kernelmagic.hub import spawner as spawner_module
from kernelmagic.hub.spawner import CPU_PERIOD_US, LearnerCgroup, LearnerSpawner
from tests.hub.harness import unix_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="spawns as another user: needs root")

MEM_LIMIT = 512 * 1024 * 1024
#: The server: it starts a child in a session of its own (as a kernel or QEMU would be),
#: prints the child's pid, and waits; the child would outlive it if nothing ended it.
SERVER = """
import subprocess, sys, time
child = subprocess.Popen(["sleep", "600"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture
def learner() -> Iterator[str]:
    with unix_user("kmcg") as name:
        yield name


def start(name: str, out: Path, server: str = SERVER, **limits: object) -> LearnerSpawner:
    """Start a server the way JupyterHub's own tests do: a stand-in user, a real Hub."""
    user = SimpleNamespace(name=name, escaped_name=name, url=f"/user/{name}/")
    with out.open("w") as stdout:
        spawner = LearnerSpawner(
            user=user, hub=Hub(), cmd=["/usr/bin/python3", "-c", server],
            popen_kwargs={"stdout": stdout}, leftover_grace=1.0,
            interrupt_timeout=1, term_timeout=1, kill_timeout=1, **limits,
        )  # fmt: skip
        asyncio.run(spawner.start())
    return spawner


def running(pid: int) -> bool:
    """Whether the process lives (a zombie waiting for init to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def first_line(out: Path, timeout: float = 60.0) -> str:
    """What the server printed first (it prints once it runs)."""
    deadline = time.monotonic() + timeout
    while not out.read_text().strip():
        assert time.monotonic() < deadline, f"the server printed nothing in {timeout:.0f} s"
        time.sleep(0.05)
    return out.read_text().split()[0]


def test_a_learners_server_runs_in_its_cgroup_with_its_limits(learner: str, tmp_path: Path) -> None:
    out = tmp_path / "server.out"
    spawner = start(learner, out, mem_limit=MEM_LIMIT, cpu_limit=0.5)
    try:
        pid = spawner.pid
        sleeper = int(first_line(out))
        cgroup = LearnerCgroup.existing("kernelmagic", learner)
        assert cgroup is not None and {pid, sleeper} <= cgroup.pids()
        lines = Path(f"/proc/{sleeper}/cgroup").read_text().splitlines()
        assert [line for line in lines if line.endswith(f"/kernelmagic/{learner}")]
        assert pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name == learner
        files = ("memory.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us",
                 "memory.max", "cpu.max")  # fmt: skip
        limits = {
            name: (folder / name).read_text().strip()
            for folder in cgroup.dirs
            for name in files
            if (folder / name).exists()
        }
        if cgroup.version == 1:
            assert limits == {"memory.limit_in_bytes": str(MEM_LIMIT),
                              "cpu.cfs_quota_us": str(CPU_PERIOD_US // 2),
                              "cpu.cfs_period_us": str(CPU_PERIOD_US)}  # fmt: skip
        else:
            assert limits == {"memory.max": str(MEM_LIMIT),
                              "cpu.max": f"{CPU_PERIOD_US // 2} {CPU_PERIOD_US}"}  # fmt: skip
    finally:
        asyncio.run(spawner.stop())
    # The server's own child (in another session) ended with it, and the cgroup is gone.
    assert not running(sleeper)
    assert LearnerCgroup.existing("kernelmagic", learner) is None
    assert not any(folder.exists() for folder in cgroup.dirs)


def test_without_a_cgroup_hierarchy_it_warns_once_and_spawns_unlimited(
    learner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "mountinfo").write_text("")  # as on a host whose cgroups are not mounted
    monkeypatch.setattr(spawner_module, "MOUNTINFO", tmp_path / "mountinfo")
    monkeypatch.setattr(LearnerSpawner, "_warned", False)
    alone = "import time; print('up', flush=True); time.sleep(600)"
    with caplog.at_level(logging.WARNING):
        for round in range(2):
            spawner = start(learner, tmp_path / f"{round}.out", alone, mem_limit=MEM_LIMIT)
            try:
                assert first_line(tmp_path / f"{round}.out") == "up"
                lines = Path(f"/proc/{spawner.pid}/cgroup").read_text()
                assert f"kernelmagic/{learner}" not in lines
            finally:
                asyncio.run(spawner.stop())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "without memory and CPU limits" in warnings[0]
