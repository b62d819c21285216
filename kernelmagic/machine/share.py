# SPDX-License-Identifier: MIT
"""The read-only 9p share through which build outputs reach the guest.

The host's build folder is exported read-only to QEMU (``-fsdev``, see
:mod:`kernelmagic.machine.cmdline`) and mounted in the guest by a helper of the bundle's
init, after each start: a mounted share would block saving the VM state.
"""

from __future__ import annotations

from pathlib import Path

from kernelmagic.errors import VMError

__all__ = [
    "GUEST_BIN",
    "GUEST_PATH",
    "GUEST_SHARE",
    "MOUNT_SHARE",
    "SHARE_TAG",
    "guest_path",
    "mount_argv",
]

#: The 9p mount tag, the same on both sides.
SHARE_TAG = "kmshare"
#: Where the share appears in the guest.
GUEST_SHARE = "/mnt/host"
#: The learner's user programs (``%%userprog``): the build folder's ``bin``.
GUEST_BIN = f"{GUEST_SHARE}/bin"
#: The learner's shell's PATH: their programs first, then the guest's (as vm/init sets it).
GUEST_PATH = f"{GUEST_BIN}:/usr/local/sbin:/sbin:/usr/sbin:/bin:/usr/bin"
#: The guest helper (vm/mount-share in the recipe) that mounts the share.
MOUNT_SHARE = "/usr/local/sbin/kernelmagic-mount-share"


def mount_argv(*, wait: bool = False) -> list[str]:
    """The guest command that mounts the share, or (``wait``) waits for its modules."""
    return [MOUNT_SHARE, "--wait"] if wait else [MOUNT_SHARE]


def guest_path(share: Path, host_path: Path) -> str:
    """Where ``host_path``, a file under the host folder ``share``, appears in the guest."""
    share = share.resolve()
    try:
        rel = Path(host_path).resolve().relative_to(share)
    except ValueError as exc:
        raise VMError(f"{host_path} is not inside the shared folder {share}") from exc
    return f"{GUEST_SHARE}/{rel.as_posix()}"
