# SPDX-License-Identifier: MIT
"""A real course server for the tests: Unix users, an install in a temporary prefix, a hub.

Everything it creates it removes: the users (with their homes), the group, the prefix, and
the hub with the processes it started (found by pid, never by name).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.hub.client import HubClient
from kernelmagic.hub.install import install_hub
from kernelmagic.hub.layout import HubLayout
from kernelmagic.hub.settings import HubSettings
from kernelmagic.hub.spawner import LearnerCgroup
from kernelmagic.hub.status import lab_vms

__all__ = ["CourseServer", "Learner", "free_ports", "processes_of", "unix_user"]


@contextlib.contextmanager
def unix_user(prefix: str) -> Iterator[str]:
    """A Unix user with a home for one test, removed (home and all) at the end."""
    name = f"{prefix}{secrets.token_hex(3)}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)


@dataclass(frozen=True)
class Learner:
    name: str
    password: str

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.name).pw_dir)

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid


def free_ports(count: int = 3) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no free ports")


def processes_of(uid: int) -> list[int]:
    """Live processes owned by ``uid``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if proc.stat().st_uid == uid:
                    pids.append(int(proc.name))
    return pids


class CourseServer:
    """An installed course server in a temporary prefix, and its users."""

    def __init__(self, tag: str = "", share_environment_of: CourseServer | None = None) -> None:
        self.tag = f"km{os.getpid() % 100000}{tag}"
        # mkdtemp is 0700; learners must pass through the prefix's parent.
        self.root = Path(tempfile.mkdtemp(prefix="kernelmagic-hub-test-"))
        self.root.chmod(0o755)
        self.layout = HubLayout(self.root / "prefix")
        self.token = secrets.token_hex(24)
        self.port = free_ports()
        self.settings = HubSettings(ip="127.0.0.1", port=self.port, group=f"{self.tag}g")
        self.learners: dict[str, Learner] = {}
        self.hub: subprocess.Popen[bytes] | None = None
        self.log = self.root / "hub.log"
        if share_environment_of is not None:
            # A second server for one test: the first one's venv and proxy, not a second pip run.
            self.layout.prefix.mkdir()
            for part in ("venv", "node"):
                (self.layout.prefix / part).symlink_to(share_environment_of.layout.prefix / part)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def install(self, **changes: object) -> None:
        if subprocess.run(["getent", "group", self.settings.group], capture_output=True).returncode:
            subprocess.run(["groupadd", self.settings.group], check=True)
        for key, value in changes.items():
            setattr(self.settings, key, value)
        install_hub(self.settings, self.layout.prefix, api_token=self.token,
                    progress=lambda line: None)  # fmt: skip

    def add_learner(self, suffix: str) -> Learner:
        name = f"{self.tag}{suffix}"
        password = secrets.token_urlsafe(12)
        learner = Learner(name, password)
        self.learners[suffix] = learner  # before useradd: remove() deletes whatever was made
        subprocess.run(["useradd", "-m", "-G", self.settings.group, "-s", "/bin/bash", name],
                       check=True)  # fmt: skip
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        return learner

    def start(self, timeout: float = 60.0, env: dict[str, str] | None = None) -> None:
        log = self.log.open("ab")
        self.hub = subprocess.Popen(
            [str(self.layout.bin("jupyterhub")), "-f", str(self.layout.config)],
            cwd=self.layout.state, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise RuntimeError(f"the hub exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.url}/hub/api/", timeout=2).close()
                return
            time.sleep(0.3)
        raise RuntimeError(f"the hub did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the hub: it stops the learners' servers and its proxy; then make sure."""
        if self.hub is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.hub.send_signal(signal.SIGTERM)
        try:
            self.hub.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.hub.pid, signal.SIGKILL)
            self.hub.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.hub.pid, signal.SIGKILL)  # the proxy, if it outlived the hub
        self.hub = None

    def client(self, learner: Learner) -> HubClient:
        client = HubClient(self.url, learner.name)
        client.login(learner.password)
        return client

    def lab_vms(self) -> dict[str, int]:
        return {u: n for u, n in lab_vms().items() if u.startswith(self.tag)}

    def wait_no_processes(self, learner: Learner, timeout: float = 30.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while (left := processes_of(learner.uid)) and time.monotonic() < deadline:
            time.sleep(0.3)
        return left

    def remove(self) -> None:
        """Stop the hub, then remove users, group and prefix (in a test's finally)."""
        self.stop()
        for learner in self.learners.values():
            try:
                uid = learner.uid
            except KeyError:
                continue  # never made
            for _ in range(50):  # theirs, started by this hub; again if one forked meanwhile
                pids = processes_of(uid)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            cgroup = LearnerCgroup.existing("kernelmagic", learner.name)
            if cgroup is not None:  # left only if the hub could not stop the server itself
                with contextlib.suppress(OSError):
                    cgroup.remove()
            subprocess.run(["userdel", "-r", learner.name], capture_output=True, check=False)
        subprocess.run(["groupdel", self.settings.group], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
