# SPDX-License-Identifier: MIT
"""Memory and CPU limits per learner where systemd cannot give them: a cgroup each.

On a Debian server systemd is PID 1 and jupyterhub-systemdspawner puts each learner in a
unit with ``MemoryMax`` and ``CPUQuota``. Without systemd (a container, a machine booted
otherwise) :class:`LearnerSpawner` does the same by hand: every learner's single-user
server, and so every kernel and QEMU it starts, runs in the cgroup
``<the hub's own cgroup>/kernelmagic/<username>``, whose limits are the spawner's
``mem_limit`` and ``cpu_limit``. Nesting under the hub's own cgroup keeps whatever
bounds the hub (a container, a service) bounding its learners too.

cgroup v2 is used when the unified hierarchy offers the ``memory`` and ``cpu``
controllers there, else the v1 ``memory`` and ``cpu`` hierarchies. The server joins its
cgroup in the child between fork and exec, while still root and before it becomes the
learner, so not one of its instructions runs unlimited. When no hierarchy can be
written the hub logs one warning and spawns without limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Float, Unicode

__all__ = ["CPU_PERIOD_US", "LearnerCgroup", "LearnerSpawner"]

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
OWN_CGROUP = Path("/proc/self/cgroup")
#: The CFS period of a learner's CPU quota: cpu_limit 1.5 is 150 ms of CPU per 100 ms.
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class LearnerCgroup:
    """One learner's cgroup: a folder in each hierarchy it uses (v2: one folder)."""

    version: int
    dirs: tuple[Path, ...]

    @classmethod
    def create(
        cls, folder: str, username: str, *, mem_limit: int | None, cpu_limit: float | None
    ) -> LearnerCgroup:
        """Make (or reuse) ``folder/<username>`` with these limits; OSError if it cannot."""
        name = _safe_name(username)
        v2 = _v2_base()
        if v2 is not None:
            try:
                return _create_v2(v2 / folder, name, mem_limit, cpu_limit)
            except OSError as exc:
                log.info("cgroup v2 refused a learner's cgroup (%s); trying v1", exc)
        return _create_v1(folder, name, mem_limit, cpu_limit)

    @classmethod
    def existing(cls, folder: str, username: str) -> LearnerCgroup | None:
        """The learner's cgroup if one is there (say, made before the hub restarted)."""
        name = _safe_name(username)
        v2 = _v2_base()
        if v2 is not None and (v2 / folder / name).is_dir():
            return cls(2, (v2 / folder / name,))
        bases = dict.fromkeys(_v1_bases().values())  # memory and cpu may share a hierarchy
        dirs = tuple(d for base in bases if (d := base / folder / name).is_dir())
        return cls(1, dirs) if dirs else None

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        """Every process still in the cgroup."""
        found: set[int] = set()
        for path in self.procs_files:
            with contextlib.suppress(FileNotFoundError):
                found.update(int(pid) for pid in Path(path).read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILL whatever the learner's server left running in the cgroup."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Remove the folders (the cgroup must be empty), then the shared parent if unused."""
        for folder in self.dirs:
            with contextlib.suppress(FileNotFoundError):
                folder.rmdir()
            with contextlib.suppress(OSError):  # other learners' cgroups are still in it
                folder.parent.rmdir()


def _safe_name(username: str) -> str:
    """A Unix username as one path component, whatever the authenticator allowed."""
    name = re.sub(r"[^A-Za-z0-9_.@-]", "_", username)
    return "_" + name if name.startswith(".") or not name else name


def _mounts() -> list[tuple[str, Path, str, set[str]]]:
    """(fs type, mount point, root inside the hierarchy, super options) of cgroup mounts."""
    mounts = []
    for line in MOUNTINFO.read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) >= 5 and len(after) >= 3 and after[0] in ("cgroup", "cgroup2"):
            mounts.append((after[0], Path(fields[4]), fields[3], set(after[2].split(","))))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """The hub's cgroup in each hierarchy: {"memory": "/a/b", "cpu": "/", "": "/" (v2)}."""
    own: dict[str, str] = {}
    for line in OWN_CGROUP.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            own[controller] = path
    return own


def _inside(mount: Path, root: str, path: str) -> Path | None:
    """Where the hub's cgroup ``path`` is under a hierarchy mounted from ``root``."""
    if root != "/" and path != root and not path.startswith(root + "/"):
        return None
    rest = path[len(root) :] if root != "/" else path
    return mount / rest.lstrip("/")


def _v2_base() -> Path | None:
    """The hub's v2 cgroup folder, when it can hand out both memory and cpu."""
    own = _own_cgroups().get("")
    for fstype, mount, root, _ in _mounts():
        if fstype == "cgroup2" and own is not None:
            base = _inside(mount, root, own)
            if base is None:
                continue
            with contextlib.suppress(OSError):
                if {"memory", "cpu"} <= set((base / "cgroup.controllers").read_text().split()):
                    return base
    return None


def _v1_bases() -> dict[str, Path]:
    """The hub's own v1 cgroup folder in the memory and in the cpu hierarchy."""
    own = _own_cgroups()
    bases: dict[str, Path] = {}
    for fstype, mount, root, options in _mounts():
        for controller in ("memory", "cpu"):
            if fstype == "cgroup" and controller in options and controller in own:
                base = _inside(mount, root, own[controller])
                if base is not None:
                    bases[controller] = base
    return bases


def _write(path: Path, value: str) -> None:
    path.write_text(value + "\n")


def _create_v2(parent: Path, name: str, mem: int | None, cpu: float | None) -> LearnerCgroup:
    wanted = " ".join(f"+{c}" for c, limit in (("memory", mem), ("cpu", cpu)) if limit)
    made = not parent.exists()
    try:
        # Each level hands the controllers down; the hub's own cgroup refuses (EBUSY)
        # when it holds processes and is not the root: then v1, or no limits.
        _write(parent.parent / "cgroup.subtree_control", wanted)
        parent.mkdir(exist_ok=True)
        _write(parent / "cgroup.subtree_control", wanted)
        folder = parent / name
        folder.mkdir(exist_ok=True)
        if mem:
            _write(folder / "memory.max", str(mem))
        if cpu:
            _write(folder / "cpu.max", f"{round(cpu * CPU_PERIOD_US)} {CPU_PERIOD_US}")
    except OSError:
        with contextlib.suppress(OSError):
            (parent / name).rmdir()
            if made:
                parent.rmdir()
        raise
    return LearnerCgroup(2, (folder,))


def _create_v1(folder: str, name: str, mem: int | None, cpu: float | None) -> LearnerCgroup:
    bases = _v1_bases()
    needed = [c for c, limit in (("memory", mem), ("cpu", cpu)) if limit]
    missing = [c for c in needed if c not in bases]
    if missing:
        raise OSError(f"no cgroup v1 hierarchy for {', '.join(missing)}")
    made: list[Path] = []
    try:
        for controller in needed:
            path = bases[controller] / folder / name
            path.mkdir(parents=True, exist_ok=True)
            if path not in made:
                made.append(path)
            if controller == "memory":
                _write(path / "memory.limit_in_bytes", str(mem))
            else:
                assert cpu is not None
                _write(path / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(path / "cpu.cfs_quota_us", str(round(cpu * CPU_PERIOD_US)))
    except OSError:
        LearnerCgroup(1, tuple(made)).remove()
        raise
    return LearnerCgroup(1, tuple(made))


class LearnerSpawner(LocalProcessSpawner):
    """LocalProcessSpawner whose servers run in a cgroup with the learner's limits."""

    cgroup_folder = Unicode(
        "kernelmagic",
        config=True,
        help="Folder, under the hub's own cgroup, of the learners' cgroups (one each).",
    )
    leftover_grace = Float(
        5.0,
        config=True,
        help="Seconds what a stopped server left in its cgroup (a kernel, a QEMU) gets to "
        "end on its own before it is killed and the cgroup removed.",
    )

    #: Logged once per hub: a class of 150 need not fill the log with the same line.
    _warned = False

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        """Join the learner's cgroup (as root, in the child), then become the learner."""
        become_learner = super().make_preexec_fn(name)
        cgroup = LearnerCgroup.existing(self.cgroup_folder, name) if self._limited else None
        procs_files = cgroup.procs_files if cgroup is not None else []

        def preexec() -> None:
            pid = str(os.getpid()).encode()
            for path in procs_files:  # only system calls here: the hub may have threads
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            become_learner()

        return preexec

    @property
    def _limited(self) -> bool:
        return bool(self.mem_limit or self.cpu_limit)

    async def start(self) -> tuple[str, int]:
        if self._limited:
            self._make_cgroup()
        try:
            return await super().start()
        except BaseException:
            await self._drop_cgroup()
            raise

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self._drop_cgroup()

    def _make_cgroup(self) -> None:
        try:
            LearnerCgroup.create(self.cgroup_folder, self.user.name,
                                 mem_limit=self.mem_limit, cpu_limit=self.cpu_limit)  # fmt: skip
        except OSError as exc:
            if not LearnerSpawner._warned:
                LearnerSpawner._warned = True
                self.log.warning(
                    "no writable cgroup hierarchy (%s): learners' servers run without "
                    "memory and CPU limits", exc,
                )  # fmt: skip
            else:
                self.log.debug("no cgroup for %s: %s", self.user.name, exc)

    async def _drop_cgroup(self) -> None:
        """Once the server has stopped: end what it left in its cgroup, remove the cgroup."""
        cgroup = LearnerCgroup.existing(self.cgroup_folder, self.user.name)
        if cgroup is None:
            return
        await _until_empty(cgroup, self.leftover_grace)
        if cgroup.pids():
            self.log.info("killing what %s's server left running", self.user.name)
            cgroup.kill()
            await _until_empty(cgroup, self.leftover_grace)
        try:
            cgroup.remove()
        except OSError as exc:
            self.log.warning("could not remove the cgroup of %s: %s", self.user.name, exc)


async def _until_empty(cgroup: LearnerCgroup, seconds: float) -> None:
    for _ in range(int(seconds / 0.1)):
        if not cgroup.pids():
            return
        await asyncio.sleep(0.1)
