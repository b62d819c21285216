# SPDX-License-Identifier: MIT
"""A cap on running lab VMs: a pool of slot files, one held per VM by ``flock``.

A course server must not let a class start more QEMUs than the machine can carry, nor
one learner take a share meant for many. A running VM therefore holds one *slot*: an
exclusive, non-blocking ``flock`` on one of N files in a folder, taken on a descriptor
the VM keeps open while QEMU runs. The kernel drops the lock when that descriptor
closes, which it does for us when the process dies however it dies (a kernel shut
down, a SIGKILL), so there is no counter to go stale and nothing to repair.

Two pools, each switched on by the environment the course server gives learners:

``KERNELMAGIC_VM_SLOTS=DIR``
    the machine-wide pool: every ``slot-NNN`` file in DIR, made by the administrator's
    install (root-owned, mode 0444; ``flock`` needs no write access).
``KERNELMAGIC_VMS_PER_LEARNER=N``
    each learner's own pool: N files under ``<kernelmagic home>/vm-slots`` (mode 0700).

With neither set, as on a single-user lab, VMs are not counted at all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import SetupError, VMLimitReached

__all__ = [
    "ENV_PER_LEARNER",
    "ENV_SLOTS",
    "Slot",
    "SlotHold",
    "VMSlots",
    "acquire",
    "count_busy",
    "learner_slots_dir",
]

ENV_SLOTS = "KERNELMAGIC_VM_SLOTS"
ENV_PER_LEARNER = "KERNELMAGIC_VMS_PER_LEARNER"
SLOT_PREFIX = "slot-"
#: ``kernelmagic hub status`` probes a slot by locking it for an instant; a start that
#: found every slot busy looks once more after this long before it refuses.
SECOND_LOOK = 0.05


def slot_name(index: int) -> str:
    return f"{SLOT_PREFIX}{index:03d}"


class Slot:
    """One held slot: the open descriptor whose ``flock`` is the VM's place in the pool."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd
        self._lock = threading.Lock()  # a status() thread and stop() may race to release

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the slot back (closing the descriptor drops the lock); safe twice."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __repr__(self) -> str:
        return f"Slot({str(self.path)!r}, held={self.held})"


class VMSlots:
    """A pool of slot files in ``directory``: its first ``size`` ones, or all of them."""

    def __init__(self, directory: Path, size: int | None = None) -> None:
        self.directory = Path(directory)
        self.size = size

    @classmethod
    def create(
        cls, directory: Path, size: int, *, file_mode: int = 0o444, dir_mode: int = 0o755
    ) -> VMSlots:
        """Make (or complete) a pool of ``size`` slot files; slots beyond it are removed.

        The administrator's install makes the machine-wide pool with the defaults (as
        root: learners may lock the files but never remove or add one); a learner's own
        pool is made 0700 / 0600 by :func:`learner_slots_dir`.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(dir_mode)
        for index in range(size):
            path = directory / slot_name(index)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, file_mode)
            os.close(fd)
            path.chmod(file_mode)
        for extra in directory.glob(f"{SLOT_PREFIX}*"):
            if extra.name not in {slot_name(i) for i in range(size)}:
                extra.unlink(missing_ok=True)  # a VM holding it keeps running, uncounted
        return cls(directory, size)

    def files(self) -> list[Path]:
        """The pool's slot files, in order."""
        if self.size is not None:
            return [self.directory / slot_name(i) for i in range(self.size)]
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{SLOT_PREFIX}*"))

    def try_acquire(self) -> Slot | None:
        """Lock the first free slot and keep it; None when every slot is taken."""
        for attempt in range(2):
            if attempt:
                time.sleep(SECOND_LOOK)
            for path in self.files():
                fd = _open(path)
                if _lock(fd):
                    return Slot(path, fd)
                os.close(fd)
        return None

    def count_busy(self) -> tuple[int, int]:
        """(slots held by running VMs, slots in the pool), by trying each one for an instant."""
        files = self.files()
        busy = 0
        for path in files:
            try:
                fd = _open(path)
            except FileNotFoundError:
                continue  # removed by a smaller reinstall meanwhile
            try:
                if _lock(fd):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                else:
                    busy += 1
            finally:
                os.close(fd)
        return busy, len(files)


def _open(path: Path) -> int:
    """A descriptor to lock, not inherited by QEMU or anything else we start.

    Read-write where allowed (on an NFS home ``flock`` becomes a POSIX lock, which wants
    write access), read-only for the administrator's 0444 files.
    """
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except PermissionError:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def _lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def count_busy(directory: Path) -> tuple[int, int]:
    """(busy, total) of the pool in ``directory``, for ``kernelmagic hub status``."""
    return VMSlots(directory).count_busy()


def learner_slots_dir() -> Path:
    """This learner's own pool folder (private: :func:`acquire` makes it 0700)."""
    return paths.home() / "vm-slots"


class SlotHold:
    """The slots one VM holds (none, its learner's, the machine's); released together."""

    def __init__(self, slots: Sequence[Slot] = ()) -> None:
        self.slots = list(slots)

    def release(self) -> None:
        for slot in self.slots:
            slot.release()

    @property
    def held(self) -> bool:
        return any(slot.held for slot in self.slots)


def acquire() -> SlotHold:
    """Take the slots the environment asks for, before a VM is launched.

    The learner's own limit is checked first, so a learner who has reached it is told
    so rather than that the server is full. Raises :class:`VMLimitReached` when a pool
    is full, SetupError when the environment names a pool that cannot be used.
    """
    hold = SlotHold()
    try:
        per_learner = _per_learner_limit()
        if per_learner is not None:
            pool = VMSlots.create(learner_slots_dir(), per_learner, file_mode=0o600, dir_mode=0o700)
            slot = pool.try_acquire()
            if slot is None:
                raise VMLimitReached(_learner_full(per_learner))
            hold.slots.append(slot)
        machine = os.environ.get(ENV_SLOTS, "").strip()
        if machine:
            pool = VMSlots(Path(machine))
            total = len(pool.files())
            if not total:
                raise SetupError(
                    f"{ENV_SLOTS} names {machine}, which holds no VM slot files; ask the "
                    "course server's administrator to run `kernelmagic hub install` again"
                )
            slot = pool.try_acquire()
            if slot is None:
                raise VMLimitReached(_server_full(total))
            hold.slots.append(slot)
    except BaseException:
        hold.release()
        raise
    return hold


def _per_learner_limit() -> int | None:
    text = os.environ.get(ENV_PER_LEARNER, "").strip()
    if not text:
        return None
    with contextlib.suppress(ValueError):
        if int(text) >= 1:
            return int(text)
    raise SetupError(
        f"{ENV_PER_LEARNER} must be a whole number of lab VMs, 1 or more (it is {text!r}); "
        "ask the course server's administrator to correct the hub's settings"
    )


def _learner_full(limit: int) -> str:
    vms = "lab VM" if limit == 1 else "lab VMs"
    return (
        f"You already run {limit} {vms} (one per open notebook), the most one learner may "
        "run on this course server; stop one you no longer need (`%vm stop` in its "
        "notebook, or shut its kernel down) and run this cell again."
    )


def _server_full(total: int) -> str:
    return (
        f"All {total} lab VMs of this course server are running; stop a VM you no longer "
        "need (`%vm stop` in another notebook, or shut its kernel down) or try again in a "
        "few minutes."
    )
