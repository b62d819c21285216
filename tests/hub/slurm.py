# SPDX-License-Identifier: MIT
"""A real one-node Slurm cluster that a test starts and stops itself (needs root).

Debian's ``slurm-wlm`` and ``munge`` packages are all it needs: nothing is read from
``/etc/slurm`` or ``/etc/munge`` and no systemd is involved, so it runs on a fresh CI
machine right after ``apt-get install``. Everything lives in one temporary folder:
slurm.conf, cgroup.conf, a fresh munge key and socket, the controller's state, the
node's spool, logs and pid files. The daemons listen on ports free at start, so a
machine's own Slurm (or a second test cluster) is never touched.

Clients find the cluster through ``SLURM_CONF``: ``cluster.env()`` is an environment
that has it, ``cluster.run(argv, user=NAME)`` runs a client command as a user.

``stop()`` cancels every job, waits for the node to end them, stops the three daemons
it started (by pid, each in its own process group), kills any job step or job process
that is still there (slurmstepd outlives slurmd by design), and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from kernelmagic.procs import stop_process_group

__all__ = ["SlurmCluster", "SlurmError", "cluster_processes"]

#: Programs the cluster runs (Debian 12 puts the daemons in /usr/sbin).
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "sinfo", "squeue", "scancel", "sbatch", "srun")
INSTALL_HINT = "install them with: apt-get install -y slurm-wlm munge"


class SlurmError(RuntimeError):
    """The test cluster could not be started or did not stop cleanly; says why."""


def _program(name: str) -> str:
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise SlurmError(f"{name} is not installed; {INSTALL_HINT}")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _memory_mib() -> int:
    """The node's RealMemory: MemTotal in MiB, which is what slurmd itself counts."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmError("/proc/meminfo has no MemTotal line")


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.partition(b"=") for item in raw.split(b"\0") if item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, _, v in pairs}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cluster_processes(conf: Path) -> list[int]:
    """Job steps and job processes of the cluster whose slurm.conf is ``conf``.

    Slurm gives both ``SLURM_CONF`` (slurmd's own, passed down); a job's processes also
    carry ``SLURM_JOB_ID``, which the hub and the test's client commands never have.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        env = _environ(pid)
        if env.get("SLURM_CONF") != str(conf):
            continue
        if _comm(pid) == "slurmstepd" or "SLURM_JOB_ID" in env:
            found.append(pid)
    return found


class SlurmCluster:
    """One node (this machine) in one partition, ``debug``; use as a context manager.

    ``cpus`` defaults to the machine's CPU count, the node's memory to MemTotal.
    ``kill_wait`` is Slurm's KillWait: seconds between a cancelled job's SIGTERM and
    SIGKILL (Slurm's default of 30 s only slows tests down).
    """

    def __init__(self, *, cpus: int | None = None, kill_wait: int = 5) -> None:
        self.cpus = cpus or os.cpu_count() or 1
        self.kill_wait = kill_wait
        self.node = socket.gethostname().split(".")[0]
        self.root: Path | None = None
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- paths -----------------------------------------------------------------------

    @property
    def conf(self) -> Path:
        if self.root is None:
            raise SlurmError("the cluster is not started")
        return self.root / "etc" / "slurm.conf"

    @property
    def pids(self) -> dict[str, int]:
        """The daemons this cluster started, by name."""
        return {name: proc.pid for name, proc in self.procs.items()}

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) plus this cluster's SLURM_CONF."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        return env

    # -- start -----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        """Write the configuration, start munged, slurmctld and slurmd; wait for ``idle``."""
        if os.geteuid() != 0:
            raise SlurmError("a test Slurm cluster runs its daemons as root; run the tests as root")
        programs = {name: _program(name) for name in DAEMONS + CLIENTS}
        try:
            pwd.getpwnam("munge")
        except KeyError:
            raise SlurmError(f"there is no munge user; {INSTALL_HINT}") from None
        # In /tmp, not $TMPDIR: learners' jobs must read slurm.conf and reach the socket.
        self.root = Path(tempfile.mkdtemp(prefix="km-slurm-", dir="/tmp"))
        try:
            self._write_files()
            self._start_munged(programs["munged"], programs["munge"])
            self._spawn("slurmctld", [programs["slurmctld"], "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", [programs["slurmd"], "-D", "-f", str(self.conf)])
            self._wait_idle(programs["sinfo"], timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _write_files(self) -> None:
        assert self.root is not None
        self.root.chmod(0o755)
        for name, mode in (("etc", 0o755), ("state", 0o700), ("spool", 0o755), ("log", 0o755)):
            (self.root / name).mkdir(mode=mode)
        munge_dir = self.root / "munge"
        munge_dir.mkdir(mode=0o755)
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for path in (munge_dir, key):
            shutil.chown(path, "munge", "munge")
        etc = self.root / "etc"
        # An empty plugin stack and a do-nothing cgroup.conf beside slurm.conf, so that
        # nothing from /etc/slurm is read and no cgroup is needed (none without systemd).
        (etc / "plugstack.conf").write_text("")
        (etc / "cgroup.conf").write_text(
            "CgroupAutomount=no\nConstrainCores=no\nConstrainRAMSpace=no\n"
            "ConstrainSwapSpace=no\nConstrainDevices=no\n"
        )
        self.conf.write_text(self._slurm_conf())
        for path in etc.iterdir():
            path.chmod(0o644)

    def _slurm_conf(self) -> str:
        assert self.root is not None
        root, node = self.root, self.node
        lines = {
            "ClusterName": "kmtest",
            "SlurmctldHost": f"{node}(127.0.0.1)",
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={root}/munge/munge.socket",
            "StateSaveLocation": root / "state",
            "SlurmdSpoolDir": root / "spool",
            "SlurmctldPidFile": root / "slurmctld.pid",
            "SlurmdPidFile": root / "slurmd.pid",
            "SlurmctldLogFile": root / "log" / "slurmctld.log",
            "SlurmdLogFile": root / "log" / "slurmd.log",
            "PlugStackConfig": root / "etc" / "plugstack.conf",
            # No cgroups: processes tracked by parentage, tasks not bound to CPUs.
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "JobCompType": "jobcomp/none",
            "MpiDefault": "none",
            "SwitchType": "switch/none",
            "MailProg": "/bin/true",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_CPU_Memory",
            "ReturnToService": 2,
            "KillWait": self.kill_wait,
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
        }
        text = "".join(f"{key}={value}\n" for key, value in lines.items())
        text += (
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={_memory_mib()} State=UNKNOWN\n"
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )
        return text

    def _spawn(self, name: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        assert self.root is not None
        with open(self.root / "log" / f"{name}.out", "wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.env(), start_new_session=True, **kwargs,  # type: ignore[call-overload]
            )
        self.procs[name] = proc
        return proc

    def _start_munged(self, munged: str, munge: str) -> None:
        assert self.root is not None
        d = self.root / "munge"
        socket_path = d / "munge.socket"
        self._spawn(
            "munged",
            [munged, "--foreground", f"--key-file={d / 'munge.key'}", f"--socket={socket_path}",
             f"--pid-file={d / 'munged.pid'}", f"--log-file={d / 'munged.log'}",
             f"--seed-file={d / 'munged.seed'}"],
            user="munge", group="munge", extra_groups=[],
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self._check_alive()
            probe = subprocess.run(
                [munge, "--no-input", f"--socket={socket_path}"],
                capture_output=True, check=False,
            )
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise SlurmError(f"munged did not answer on {socket_path}:\n{self._tail('munged')}")

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                status = proc.returncode
                raise SlurmError(f"{name} exited with status {status}:\n{self._tail(name)}")

    def _tail(self, name: str, lines: int = 20) -> str:
        """The end of a daemon's output (its log, since -D logs to stderr too)."""
        assert self.root is not None
        log = self.root / "munge" / "munged.log" if name == "munged" else None
        log = log if log and log.exists() else self.root / "log" / f"{name}.out"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return f"({log} is missing)"

    def _wait_idle(self, sinfo: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            self._check_alive()
            result = subprocess.run(
                [sinfo, "--noheader", "--nodes", self.node, "--format", "%T"],
                capture_output=True, text=True, env=self.env(), check=False,
            )
            state = result.stdout.strip() or result.stderr.strip()
            if state == "idle":
                return
            time.sleep(0.2)
        raise SlurmError(
            f"node {self.node} is {state!r}, not idle, after {timeout:.0f} s:\n"
            f"{self._tail('slurmctld')}\n{self._tail('slurmd')}"
        )

    # -- use -------------------------------------------------------------------------

    def run(
        self, argv: Sequence[str], *, user: str | None = None, timeout: float = 120.0,
        cwd: str | Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A Slurm client command against this cluster, as ``user`` (via runuser) or root.

        As a user it starts in that user's home, where their jobs may write.
        """
        command = list(argv)
        if user is not None:
            command = [_program("runuser"), "-u", user, "--", *command]
            cwd = cwd or pwd.getpwnam(user).pw_dir
        return subprocess.run(
            command, capture_output=True, text=True, env=self.env(), cwd=cwd,
            timeout=timeout, check=False,
        )

    def jobs(self) -> list[str]:
        """Ids of the jobs the controller still knows (any state)."""
        result = self.run(["squeue", "--noheader", "--format", "%A"])
        if result.returncode != 0:
            raise SlurmError(f"squeue failed: {result.stderr.strip()}")
        return result.stdout.split()

    # -- stop ------------------------------------------------------------------------

    def stop(self) -> None:
        """Cancel all jobs, stop the daemons this cluster started, remove its folder.

        Safe to call twice. Raises SlurmError afterwards if a job or a job step had to
        be killed because Slurm itself did not end it (the cleanup is done anyway).
        """
        if self.root is None:
            return
        conf = self.conf
        problems: list[str] = []
        try:
            if all(name in self.procs and self.procs[name].poll() is None for name in DAEMONS):
                try:
                    self._cancel_jobs()
                except (SlurmError, subprocess.SubprocessError) as exc:
                    problems.append(f"cancelling the jobs failed: {exc}")
        finally:
            for name in ("slurmd", "slurmctld", "munged"):  # clients first, munge last
                if name in self.procs:
                    stop_process_group(self.procs[name], grace=10.0)
            leftovers = cluster_processes(conf)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if leftovers:
                problems.append(f"job processes outlived their jobs (killed): {leftovers}")
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            self.procs = {}
        if problems:
            raise SlurmError("; ".join(problems))

    def _cancel_jobs(self) -> None:
        """scancel every job; wait for the node to end their steps (KillWait plus slack)."""
        assert self.root is not None
        jobs = self.jobs()
        if jobs:
            self.run(["scancel", *jobs])
        deadline = time.monotonic() + self.kill_wait + 30
        while time.monotonic() < deadline:
            steps = [p for p in (self.root / "spool").iterdir() if p.is_socket()]
            if not self.jobs() and not steps and not cluster_processes(self.conf):
                return
            time.sleep(0.2)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

