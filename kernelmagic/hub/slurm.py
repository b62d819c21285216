# SPDX-License-Identifier: MIT
"""Learner servers as Slurm jobs, through batchspawner's ``SlurmSpawner``.

Two halves:

* ``configure_slurm``, called by the course server's ``jupyterhub_config.py``, sets
  ``c.SlurmSpawner`` to the values of ``spawner_settings``. The hub runs as root and
  submits, queries and cancels each learner's job *as the learner* (``runuser``, which
  needs no sudo); the job script runs the learner launcher through this module.
* ``python -m kernelmagic.hub.slurm COMMAND...``: the first thing a learner's job runs.
  A job learns its node only when it starts, so the server's port is chosen there and
  told to the hub (batchspawner's ``/hub/api/batchspawner`` endpoint) before COMMAND
  runs. batchspawner's own ``batchspawner-singleuser`` does this too, but it can only
  start a Python *script* found on PATH (``runpy.run_path``), not ``python -m
  kernelmagic.hub.learner``, and it ignores a refused registration, which leaves the
  hub waiting for its whole start timeout.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from kernelmagic.errors import KernelMagicError, UsageError

__all__ = ["BATCH_SCRIPT", "configure_slurm", "main", "spawner_settings"]

#: The job script, a jinja2 template (batchspawner renders it). ``exec`` makes the
#: server the job's own process, so ``scancel`` (SIGTERM) reaches it first and it stops
#: its kernels and their VMs cleanly. One log per learner, overwritten at each start.
BATCH_SCRIPT = """#!/bin/bash
#SBATCH --job-name=kernelmagic-{{username}}
#SBATCH --output={{homedir}}/.kernelmagic-hub-job.log
#SBATCH --chdir={{homedir}}
#SBATCH --export={{keepvars}}
#SBATCH --cpus-per-task={{nprocs}}
#SBATCH --mem={{memory}}
#SBATCH --time={{runtime}}
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if options %}#SBATCH {{options}}
{% endif %}set -eu
{{prologue}}
exec {{cmd}}
"""

#: Slurm's ``--mem`` forms: a number of MiB, or a number with K, M, G or T.
_MEMORY = re.compile(r"[1-9][0-9]*[KMGT]?")
#: Slurm's ``--time`` forms we accept: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
_RUNTIME = re.compile(r"([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}")

#: JupyterHub's default ``Spawner.env_keep`` plus SLURM_CONF: ``sbatch`` runs with only the
#: spawner's environment, so a cluster whose slurm.conf is not in /etc/slurm (a test's)
#: is found only if the hub's SLURM_CONF is passed on.
ENV_KEEP = [
    "PATH", "PYTHONPATH", "CONDA_ROOT", "CONDA_DEFAULT_ENV", "VIRTUAL_ENV", "LANG",
    "LC_ALL", "JUPYTERHUB_SINGLEUSER_APP", "SLURM_CONF",
]


def _runuser() -> str:
    """util-linux's runuser (in /usr/sbin on Debian and Red Hat alike)."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    return shlex.quote(shutil.which("runuser", path=path) or "/usr/sbin/runuser")


def spawner_settings(
    prefix: Path,
    *,
    nprocs: int = 2,
    memory: str = "2G",
    runtime: str = "08:00:00",
    partition: str = "",
    options: str = "",
) -> dict[str, Any]:
    """The ``c.SlurmSpawner`` values for a course server installed under ``prefix``.

    ``nprocs`` CPUs per learner (the lab VM has two vCPUs); ``memory`` and ``runtime``
    in Slurm's own forms (``--mem``, ``--time``): the job ends at ``runtime`` even if the
    idle culler has not stopped it. The learner's environment (KERNELMAGIC_BUNDLE_DIR
    and friends) comes from ``c.Spawner.environment`` as for every spawner; batchspawner
    passes each of its names to the job with ``--export``.
    """
    if nprocs < 1:
        raise UsageError(f"a Slurm job needs at least one CPU, not {nprocs}")
    memory = memory.strip().upper()
    if not _MEMORY.fullmatch(memory):
        raise UsageError(f"Slurm memory {memory!r}: write a number of MiB or e.g. 1G, 1500M")
    if not _RUNTIME.fullmatch(runtime):
        raise UsageError(f"Slurm time limit {runtime!r}: write e.g. 08:00:00 or 1-00:00:00")
    python = Path(prefix) / "venv" / "bin" / "python"
    return {
        "batch_script": BATCH_SCRIPT,
        # The learner's own `sbatch`, `squeue`, `scancel`: the job belongs to them.
        # runuser keeps the environment (the hub's token for the job among it); sudo
        # is not needed and often not installed. A full path: the learners' PATH, which
        # these commands get, has no sbin.
        "exec_prefix": f"{_runuser()} -u {{username}} --",
        "batchspawner_singleuser_cmd": f"{shlex.quote(str(python))} -m kernelmagic.hub.slurm",
        "cmd": [str(python), "-m", "kernelmagic.hub.learner"],
        "req_srun": "",  # the server runs in the batch step itself (see BATCH_SCRIPT)
        "req_nprocs": str(nprocs),
        "req_memory": memory,
        "req_runtime": runtime,
        "req_partition": partition,
        "req_options": options,
        "env_keep": list(ENV_KEEP),
    }


def configure_slurm(c: Any, prefix: Path, settings: Mapping[str, Any]) -> None:
    """Make ``c`` (a JupyterHub config) start each learner's server as a Slurm job.

    The install's limits become the job's request: ``cpu_limit`` rounded up to whole
    CPUs, ``mem_limit`` as ``--mem``. Optional keys ``slurm_partition``,
    ``slurm_runtime`` and ``slurm_options`` (extra ``#SBATCH`` flags) fit the job to a
    cluster's rules. A cluster whose nodes are other machines also needs the hub's API
    reachable from them: ``c.JupyterHub.hub_ip = "0.0.0.0"`` and
    ``c.JupyterHub.hub_connect_ip`` set to this machine's name.
    """
    c.JupyterHub.spawner_class = "batchspawner.SlurmSpawner"
    values = spawner_settings(
        prefix,
        nprocs=max(1, math.ceil(float(settings.get("cpu_limit", 2)))),
        memory=str(settings.get("mem_limit", "2G")),
        runtime=str(settings.get("slurm_runtime", "08:00:00")),
        partition=str(settings.get("slurm_partition", "")),
        options=str(settings.get("slurm_options", "")),
    )
    for name, value in values.items():
        setattr(c.SlurmSpawner, name, value)
    # Jobs run on the cluster's nodes: one machine's cap on VMs means nothing there, and
    # Slurm's own CPU and memory requests bound each learner instead.
    environment = c.Spawner.get("environment")
    if isinstance(environment, dict):
        c.Spawner.environment = {
            k: v for k, v in environment.items() if k != "KERNELMAGIC_VM_SLOTS"
        }


class RegistrationError(KernelMagicError):
    """The hub did not take the port of a learner's server (job side)."""


def _free_port() -> int:
    """A TCP port free right now on this node, for the learner's server to bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def register_port(port: int, environ: dict[str, str]) -> None:
    """Tell the hub where this job's server will listen (batchspawner's API)."""
    try:
        api_url = environ["JUPYTERHUB_API_URL"].rstrip("/")
        token = environ["JUPYTERHUB_API_TOKEN"]
    except KeyError as exc:
        raise RegistrationError(
            f"{exc.args[0]} is not set: this job was not started by the hub"
        ) from None
    request = urllib.request.Request(
        f"{api_url}/batchspawner",
        data=json.dumps({"port": port}).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as exc:
        raise RegistrationError(
            f"the hub at {api_url} refused this server's port ({exc.code} {exc.reason}); "
            "is batchspawner installed in the hub's environment?"
        ) from None
    except OSError as exc:
        raise RegistrationError(f"cannot reach the hub at {api_url}: {exc}") from None


def _with_port(service_url: str, port: int) -> str:
    """``JUPYTERHUB_SERVICE_URL`` with its port replaced (the hub wrote port 0 there)."""
    parts = urlsplit(service_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def main(argv: Sequence[str] | None = None) -> int:
    """Register a port with the hub, then become COMMAND (the learner launcher)."""
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print("usage: python -m kernelmagic.hub.slurm COMMAND [ARG...]", file=sys.stderr)
        return 2
    environ = dict(os.environ)
    port = _free_port()
    try:
        register_port(port, environ)
    except RegistrationError as exc:
        print(f"kernelmagic hub (Slurm job): {exc}", file=sys.stderr)
        return 1
    if environ.get("JUPYTERHUB_SERVICE_URL"):
        environ["JUPYTERHUB_SERVICE_URL"] = _with_port(environ["JUPYTERHUB_SERVICE_URL"], port)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, environ)
    except OSError as exc:
        print(f"kernelmagic hub (Slurm job): cannot run {command[0]}: {exc}", file=sys.stderr)
        return 1
    return 1  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
