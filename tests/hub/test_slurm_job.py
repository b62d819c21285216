# SPDX-License-Identifier: MIT
"""The Slurm side of the course server without a hub: the job script batchspawner
renders from our settings, and the job's first step, which tells the hub its port.

The hub's ``/api/batchspawner`` endpoint is stood in for by a small HTTP server that
records what it is sent; the whole path with a real hub is in the hub tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from batchspawner import format_template

from kernelmagic.errors import UsageError
from kernelmagic.hub.slurm import configure_slurm, spawner_settings

PREFIX = Path("/opt/kernelmagic-hub")


class _Recorder(BaseHTTPRequestHandler):
    """Answers every POST with the status in ``server.status``; keeps each request."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(  # type: ignore[attr-defined]
            (self.path, self.headers["Authorization"], json.loads(body))
        )
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hub_api() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    server.status = 201  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _job(hub_api: HTTPServer, *command: str) -> subprocess.CompletedProcess[str]:
    """Run the job's first step as a Slurm job would, with the hub's environment."""
    env = {
        "PATH": "/usr/bin:/bin",
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{hub_api.server_port}/hub/api",
        "JUPYTERHUB_API_TOKEN": "secret-of-the-server",
        "JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:0/user/alice/",
    }
    return subprocess.run(
        [sys.executable, "-m", "kernelmagic.hub.slurm", *command],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_the_job_tells_the_hub_its_port_then_becomes_the_command(hub_api: HTTPServer) -> None:
    shown = _job(hub_api, sys.executable, "-c",
                 "import os; print(os.environ['JUPYTERHUB_SERVICE_URL'])")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    [(path, auth, body)] = hub_api.requests  # type: ignore[attr-defined]
    assert (path, auth) == ("/hub/api/batchspawner", "token secret-of-the-server")
    assert shown.stdout.strip() == f"http://0.0.0.0:{body['port']}/user/alice/"


def test_a_refused_registration_is_one_line_and_the_command_never_runs(
    hub_api: HTTPServer, tmp_path: Path
) -> None:
    hub_api.status = 403  # type: ignore[attr-defined]
    marker = tmp_path / "ran"
    refused = _job(hub_api, "touch", str(marker))
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "refused this server's port (403" in refused.stderr
    assert not marker.exists()


def test_the_job_script_asks_for_the_learners_cpus_memory_and_time() -> None:
    values = spawner_settings(PREFIX, nprocs=2, memory="1g", runtime="04:00:00",
                              partition="teaching")  # fmt: skip
    script = format_template(
        values["batch_script"], username="alice", homedir="/home/alice",
        keepvars="PATH,KERNELMAGIC_BUNDLE_DIR", nprocs=values["req_nprocs"],
        memory=values["req_memory"], runtime=values["req_runtime"],
        partition=values["req_partition"], options="", prologue="",
        cmd=" ".join([values["batchspawner_singleuser_cmd"], *values["cmd"]]),
    )  # fmt: skip
    lines = script.splitlines()
    assert [line for line in lines if line.startswith("#SBATCH")] == [
        "#SBATCH --job-name=kernelmagic-alice",
        "#SBATCH --output=/home/alice/.kernelmagic-hub-job.log",
        "#SBATCH --chdir=/home/alice",
        "#SBATCH --export=PATH,KERNELMAGIC_BUNDLE_DIR",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=1G",
        "#SBATCH --time=04:00:00",
        "#SBATCH --partition=teaching",
    ]
    python = PREFIX / "venv" / "bin" / "python"
    wrapper = f"{python} -m kernelmagic.hub.slurm"
    assert lines[-1] == f"exec {wrapper} {python} -m kernelmagic.hub.learner"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nprocs": 0}, "at least one CPU"),
        ({"memory": "lots"}, "Slurm memory 'LOTS'"),
        ({"runtime": "8h"}, "Slurm time limit '8h'"),
    ],
)
def test_values_slurm_would_refuse_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        spawner_settings(PREFIX, **changes)


def test_the_install_limits_become_the_jobs_request() -> None:
    from traitlets.config import Config

    c = Config()
    configure_slurm(c, PREFIX, {"cpu_limit": 1.5, "mem_limit": "768M"})
    assert c.JupyterHub.spawner_class == "batchspawner.SlurmSpawner"
    assert (c.SlurmSpawner.req_nprocs, c.SlurmSpawner.req_memory) == ("2", "768M")
    assert c.SlurmSpawner.exec_prefix.endswith("runuser -u {username} --")
