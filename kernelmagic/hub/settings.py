# SPDX-License-Identifier: MIT
"""The choices an administrator makes at install time, kept in ``etc/hub.json``.

``kernelmagic hub install`` writes them and the config template reads them, so a second
install with one option changed keeps every other choice, and ``hub status`` can say what
the server was set up to do.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kernelmagic.errors import UsageError
from kernelmagic.files import write_atomically

__all__ = ["LESSON_VERSIONS", "SPAWNERS", "HubSettings", "parse_memory"]

#: local: the learner's server is a process of theirs on this machine (cgroup limits);
#: systemd: jupyterhub-systemdspawner, a transient unit per learner (needs systemd as PID 1);
#: slurm: batchspawner, a Slurm job per learner.
SPAWNERS = ("local", "systemd", "slurm")
LESSON_VERSIONS = ("student", "full")

_MEMORY = re.compile(r"^(\d+)([KMGT]?)$")


def parse_memory(text: str) -> int:
    """'768M' -> bytes, the notation JupyterHub's ``mem_limit`` understands."""
    m = _MEMORY.match(text.strip().upper())
    if not m:
        raise UsageError(f"memory limit {text!r} is not understood; write e.g. 768M or 2G")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2)]
    return int(m.group(1)) * scale


@dataclass
class HubSettings:
    """What a course server does; defaults fit a class on one 32-core machine."""

    ip: str = "0.0.0.0"
    port: int = 8000
    spawner: str = "local"
    #: the Unix group whose members may log in (created by the install)
    group: str = "kernelmagic"
    instructors: list[str] = field(default_factory=list)
    #: what learners receive: "student" versions (no solutions, instructor-only cells or
    #: hidden checks; what a class needs) or the "full" lessons (self-study, as `make lab`)
    lessons: str = "student"
    course_id: str = "kernelmagic"
    #: lab VMs the machine runs at once, over all learners
    max_vms: int = 120
    #: lab VMs one learner may run at once (one per open notebook)
    vms_per_learner: int = 2
    #: seconds without activity before the culler stops a learner's server (and its VMs)
    idle_timeout: int = 3600
    mem_limit: str = "1536M"
    cpu_limit: float = 2.0

    def check(self) -> None:
        """One clear line for the first value that cannot work."""
        if self.spawner not in SPAWNERS:
            raise UsageError(f"--spawner must be one of {', '.join(SPAWNERS)}, not {self.spawner}")
        if self.lessons not in LESSON_VERSIONS:
            raise UsageError(f"--lessons must be student or full, not {self.lessons}")
        if not 1 <= self.port <= 65533:
            raise UsageError(
                f"--port {self.port} is not a port (1-65533; the next two are used too)"
            )
        for name, value, low in (
            ("--max-vms", self.max_vms, 1),
            ("--vms-per-learner", self.vms_per_learner, 1),
            ("--idle-timeout", self.idle_timeout, 10),
        ):
            if value < low:
                raise UsageError(f"{name} must be at least {low}, not {value}")
        if self.cpu_limit <= 0:
            raise UsageError(f"--cpu-limit must be above 0, not {self.cpu_limit}")
        parse_memory(self.mem_limit)
        for user in self.instructors:
            if not re.fullmatch(r"[a-z_][a-z0-9_-]*[$]?", user):
                raise UsageError(f"--instructor {user!r} is not a Unix user name")

    @property
    def hub_port(self) -> int:
        """The hub's own API, next to the public port."""
        return self.port + 1

    @property
    def proxy_api_port(self) -> int:
        return self.port + 2

    def save(self, path: Path) -> None:
        write_atomically(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> HubSettings:
        data: dict[str, Any] = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
