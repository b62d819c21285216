# SPDX-License-Identifier: MIT
"""The test Slurm cluster itself: it starts from nothing, runs a user's steps and jobs,
and stops without leaving a daemon, a job step, a job process or a folder behind.

Needs root and Debian's ``slurm-wlm`` and ``munge`` packages (as the hub tests do).
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.harness import unix_user
from tests.hub.slurm import SlurmCluster, cluster_processes


def _uid_of_process(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no Uid line")


def _running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (which waits for its parent to
    reap it; init here reaps orphaned slurmstepds a little later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture(scope="module")
def learner() -> Iterator[str]:
    with unix_user("kmslurm") as name:
        yield name


@pytest.fixture(scope="module")
def cluster(learner: str) -> Iterator[SlurmCluster]:
    """One cluster for the module. It asks for ``learner`` only so that it is stopped
    first: userdel refuses a user whose job is still running."""
    with SlurmCluster() as started:
        yield started


def _wait_for_job_process(cluster: SlurmCluster, program: bytes, deadline_s: float = 60) -> None:
    """Until a process of a job runs ``program`` (RUNNING in squeue comes a little before)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid in cluster_processes(cluster.conf):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[0] == program:
                return
        time.sleep(0.2)
    raise AssertionError(f"no job process runs {program!r}: {cluster.jobs()}")


def test_the_node_is_idle_with_this_machines_cpus_and_memory(cluster: SlurmCluster) -> None:
    result = cluster.run(["sinfo", "--noheader", "--format", "%P %T %c %N"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["debug*", "idle", str(os.cpu_count()), cluster.node]


def test_the_daemons_run_as_debian_runs_them(cluster: SlurmCluster) -> None:
    uids = {name: _uid_of_process(pid) for name, pid in cluster.pids.items()}
    assert uids == {"munged": pwd.getpwnam("munge").pw_uid, "slurmctld": 0, "slurmd": 0}


def test_srun_runs_a_step_as_the_user(cluster: SlurmCluster, learner: str) -> None:
    result = cluster.run(["srun", "--cpus-per-task=1", "id", "-un"], user=learner)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == learner


def test_sbatch_runs_a_job_as_the_user_in_their_home(
    cluster: SlurmCluster, learner: str
) -> None:
    home = Path(pwd.getpwnam(learner).pw_dir)
    result = cluster.run(
        ["sbatch", "--parsable", "--wait", "--cpus-per-task=1", "--output=job-%j.out",
         "--wrap", 'id -un; echo "job $SLURM_JOB_ID in $PWD"'],
        user=learner,
    )
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    output = home / f"job-{job}.out"
    assert output.read_text().splitlines() == [learner, f"job {job} in {home}"]
    assert output.stat().st_uid == pwd.getpwnam(learner).pw_uid
    assert cluster.jobs() == []


def test_stop_ends_running_jobs_and_leaves_nothing(learner: str) -> None:
    cluster = SlurmCluster().start()
    try:
        daemons = cluster.pids
        root, conf = cluster.root, cluster.conf
        submitted = cluster.run(
            ["sbatch", "--parsable", "--output=/dev/null", "--wrap", "sleep 600"], user=learner
        )
        assert submitted.returncode == 0, submitted.stderr
        _wait_for_job_process(cluster, b"sleep")
        job_processes = cluster_processes(conf)  # its slurmstepd, the script, sleep
        assert len(job_processes) >= 3
    finally:
        cluster.stop()  # raises if a job process had to be killed by hand
    assert root is not None and not root.exists()
    assert [name for name, pid in daemons.items() if _running(pid)] == []
    assert [pid for pid in job_processes if _running(pid)] == []
    assert cluster_processes(conf) == []
    cluster.stop()  # a second stop is harmless
