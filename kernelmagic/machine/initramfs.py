# SPDX-License-Identifier: MIT
"""Writing the lab VM's initramfs: a ``newc`` cpio archive made reproducibly.

We write the archive ourselves instead of calling ``cpio`` so that the same files
always give the same bytes (sorted names, zero timestamps, root ownership) and so that
device nodes such as ``/dev/console`` can be added without root.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.errors import BundleBuildError
from kernelmagic.machine.tools import QUICK_TIMEOUT, run_tool

__all__ = [
    "Entry",
    "char_device",
    "entries_from_tree",
    "library_closure",
    "needed_libraries",
    "write_cpio",
]

_TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One member of the archive; ``data`` is the file body or the symlink target."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def entries_from_tree(root: Path) -> Iterator[Entry]:
    """Every file, folder and symlink under ``root``, in sorted order, parents first."""
    paths = sorted(p for p in root.rglob("*"))
    for path in paths:
        rel = path.relative_to(root).as_posix()
        info = path.lstat()
        perm = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            yield Entry(rel, stat.S_IFLNK | 0o777, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            # Folder modes come from the umask of whoever built; fix them for same bytes.
            yield Entry(rel, stat.S_IFDIR | (0o1777 if rel == "tmp" else 0o755))
        elif stat.S_ISREG(info.st_mode):
            mode = 0o755 if perm & 0o111 else 0o644
            yield Entry(rel, stat.S_IFREG | mode, path.read_bytes())
        else:
            raise BundleBuildError(f"unexpected file type in initramfs staging: {rel}")


def char_device(name: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    """A device node, which needs root on disk but not inside an archive."""
    return Entry(name, stat.S_IFCHR | perm, rdev=(major, minor))


def write_cpio(entries: Iterable[Entry], out: Path) -> None:
    """Write ``entries`` as an uncompressed newc archive (the kernel unpacks it fastest)."""
    with out.open("wb") as handle:
        inode = 1
        for entry in [*entries, Entry(_TRAILER, 0)]:
            handle.write(_header(entry, inode if entry.name != _TRAILER else 0))
            handle.write(entry.data)
            handle.write(b"\0" * (-len(entry.data) % 4))
            inode += 1


def _header(entry: Entry, inode: int) -> bytes:
    name = entry.name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (
        inode, entry.mode, 0, 0, nlink, 0, len(entry.data),
        0, 0, entry.rdev[0], entry.rdev[1], len(name), 0,
    )  # fmt: skip
    head = b"070701" + b"".join(b"%08X" % value for value in fields) + name
    return head + b"\0" * (-len(head) % 4)


def needed_libraries(elf: Path) -> list[str]:
    """The ``DT_NEEDED`` sonames of an ELF file, read with binutils' ``readelf``."""
    proc = run_tool(
        ["readelf", "-d", str(elf)], timeout=QUICK_TIMEOUT, env=dict(os.environ, LC_ALL="C")
    )
    if proc.returncode != 0:
        raise BundleBuildError(f"readelf failed on {elf}: {proc.stderr.strip()}")
    names = []
    for line in proc.stdout.splitlines():
        if "(NEEDED)" in line and "[" in line:
            names.append(line.split("[", 1)[1].rstrip("]"))
    return names


def library_closure(binaries: Iterable[Path], search: list[Path]) -> dict[str, Path]:
    """Map every soname the binaries need, directly or not, to a file in ``search``."""
    found: dict[str, Path] = {}
    pending = [b for b in binaries]
    while pending:
        for soname in needed_libraries(pending.pop()):
            if soname in found:
                continue
            path = next((d / soname for d in search if (d / soname).exists()), None)
            if path is None:
                raise BundleBuildError(
                    f"library {soname} is not in the bundle's packages; add its Debian "
                    "package to vm/packages.txt"
                )
            found[soname] = path
            pending.append(path.resolve())
    return found
