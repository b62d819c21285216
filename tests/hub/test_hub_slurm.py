# SPDX-License-Identifier: MIT
"""A learner's server as a Slurm job (batchspawner) on a real one-node Slurm cluster.

The test starts its own cluster (munged, slurmctld, slurmd; ``tests/hub/slurm.py``) and a
second course server installed with ``--spawner slurm`` (sharing the first one's Python
environment, so pip runs once), logs a learner in through the form, and runs the same
cells as on the local spawner, inside the job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.hub.conftest import running_server
from tests.hub.harness import CourseServer
from tests.hub.slurm import SlurmCluster, cluster_processes


@pytest.fixture(scope="module")
def slurm_server(course_server: CourseServer) -> Iterator[tuple[CourseServer, SlurmCluster]]:
    cluster = SlurmCluster()
    try:
        cluster.start()
        # Leaving the block stops the hub first: its SIGTERM cancels the learner's job.
        with running_server(tag="s", share_environment_of=course_server) as server:
            server.install(spawner="slurm", cpu_limit=2.0, mem_limit="1G")
            server.start(env=cluster.env())
            yield server, cluster
    finally:
        cluster.stop()  # raises if a job process had to be killed by hand


def _job_processes_of(cluster: SlurmCluster, uid: int) -> list[int]:
    return [pid for pid in cluster_processes(cluster.conf) if os.stat(f"/proc/{pid}").st_uid == uid]


def test_a_learners_server_runs_as_a_slurm_job(
    slurm_server: tuple[CourseServer, SlurmCluster],
) -> None:
    server, cluster = slurm_server
    learner = server.add_learner("slurm")
    client = server.client(learner)
    client.start_server()
    jobs = cluster.run(["squeue", "-h", "-o", "%u %T %C %j"]).stdout.split("\n")
    assert f"{learner.name} RUNNING 2 kernelmagic-{learner.name}" in jobs, jobs
    assert _job_processes_of(cluster, learner.uid), "no process of the learner's job"

    kernel = client.start_kernel()
    try:
        load = kernel.execute(
            "%%kmodule hello --load\n#include <linux/module.h>\n"
            'static int __init h_init(void) { pr_info("hello from a Slurm job\\n"); return 0; }\n'
            "static void __exit h_exit(void) { }\nmodule_init(h_init);\nmodule_exit(h_exit);\n"
            'MODULE_LICENSE("GPL");\n'
        )
        assert load.ok and "hello loaded" in load.text, (load.error, load.text)
        dmesg = kernel.execute("%dmesg")
        assert "hello from a Slurm job" in dmesg.text
        # QEMU runs inside the job, as the learner.
        assert server.lab_vms() == {learner.name: 1}
    finally:
        kernel.shutdown()

    client.stop_server()
    assert cluster.jobs() == []
    assert server.wait_no_processes(learner) == []
    assert cluster_processes(cluster.conf) == []
