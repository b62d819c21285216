# SPDX-License-Identifier: MIT
"""initramfs.py: the newc writer read back by a tiny reader (and by ``cpio`` if present),
and the shared-library closure with ``readelf`` replaced by a table."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from kernelmagic.errors import BundleBuildError
from kernelmagic.machine import initramfs, tools
from kernelmagic.machine.initramfs import Entry, char_device, entries_from_tree, write_cpio


class Member(NamedTuple):
    name: str
    ino: int
    mode: int
    uid: int
    gid: int
    nlink: int
    mtime: int
    rdev: tuple[int, int]
    data: bytes


def _align(n: int) -> int:
    return n + (-n % 4)


def read_newc(blob: bytes) -> list[Member]:
    """A strict reader of the ``070701`` format, trailer excluded."""
    members = []
    pos = 0
    while True:
        assert blob[pos : pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        ino, mode, uid, gid, nlink, mtime, size, _dmaj, _dmin, rmaj, rmin, namesize, check = fields
        assert check == 0
        name_end = pos + 110 + namesize
        assert blob[name_end - 1] == 0, "name not NUL-terminated"
        name = blob[pos + 110 : name_end - 1].decode()
        pos = _align(name_end)
        data = blob[pos : pos + size]
        assert len(data) == size, "archive truncated"
        pos = _align(pos + size)
        if name == "TRAILER!!!":
            assert pos == len(blob), "bytes after the trailer"
            return members
        members.append(Member(name, ino, mode, uid, gid, nlink, mtime, (rmaj, rmin), data))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sbin").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    (root / "bin" / "busybox").write_bytes(b"\x7fELF busybox" * 3)
    (root / "bin" / "busybox").chmod(0o755)
    (root / "bin" / "sh").symlink_to("/bin/busybox")
    (root / "etc" / "hostname").write_text("kernelmagic\n")  # 12 bytes: no padding
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "etc" / "passwd").chmod(0o644)
    (root / "init").write_text("#!/bin/sh\n")
    (root / "init").chmod(0o755)
    return root


def test_cpio_reads_back(tree: Path, tmp_path: Path) -> None:
    entries = list(entries_from_tree(tree))
    entries.append(char_device("dev/console", 5, 1))
    out = tmp_path / "initramfs.cpio"
    write_cpio(entries, out)
    members = {m.name: m for m in read_newc(out.read_bytes())}

    assert set(members) == {
        "bin", "bin/busybox", "bin/sh", "etc", "etc/hostname", "etc/passwd", "init",
        "sbin", "dev/console",
    }  # fmt: skip
    busybox = members["bin/busybox"]
    assert stat.S_ISREG(busybox.mode) and stat.S_IMODE(busybox.mode) == 0o755
    assert busybox.data == b"\x7fELF busybox" * 3
    assert members["etc/passwd"].data == b"root:x:0:0::/root:/bin/sh\n"
    assert stat.S_IMODE(members["etc/passwd"].mode) == 0o644
    link = members["bin/sh"]
    assert stat.S_ISLNK(link.mode) and link.data == b"/bin/busybox"
    assert stat.S_ISDIR(members["etc"].mode) and members["etc"].nlink == 2
    console = members["dev/console"]
    assert stat.S_ISCHR(console.mode) and stat.S_IMODE(console.mode) == 0o600
    assert console.rdev == (5, 1) and console.data == b""
    for member in members.values():
        assert (member.mtime, member.uid, member.gid) == (0, 0, 0), member.name
    inodes = [m.ino for m in members.values()]
    assert len(set(inodes)) == len(inodes) and 0 not in inodes


def test_entries_sorted_parents_first(tree: Path) -> None:
    names = [e.name for e in entries_from_tree(tree)]
    assert names == sorted(names)
    for index, name in enumerate(names):
        parent = name.rpartition("/")[0]
        if parent:
            assert parent in names[:index], f"{name} before its folder"


def test_same_tree_same_bytes(tree: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.cpio", tmp_path / "b.cpio"
    write_cpio(entries_from_tree(tree), first)
    # Touch every file: timestamps must not reach the archive.
    for path in tree.rglob("*"):
        if not path.is_symlink():
            path.touch()
    write_cpio(entries_from_tree(tree), second)
    assert first.read_bytes() == second.read_bytes()


def test_content_change_changes_bytes(tree: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.cpio", tmp_path / "b.cpio"
    write_cpio(entries_from_tree(tree), first)
    (tree / "init").write_text("#!/bin/sh\necho\n")
    write_cpio(entries_from_tree(tree), second)
    assert first.read_bytes() != second.read_bytes()


def test_unpadded_sizes(tmp_path: Path) -> None:
    """Names and bodies of every length modulo 4 keep the stream aligned."""
    entries = [Entry("a" * n, stat.S_IFREG | 0o644, b"x" * n) for n in range(1, 9)]
    out = tmp_path / "pad.cpio"
    write_cpio(entries, out)
    members = read_newc(out.read_bytes())
    assert [(m.name, m.data) for m in members] == [(e.name, e.data) for e in entries]


def test_unexpected_file_type(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "fifo")
    with pytest.raises(BundleBuildError, match="fifo"):
        list(entries_from_tree(root))


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_gnu_cpio_agrees(tree: Path, tmp_path: Path) -> None:
    entries = sorted(
        [*entries_from_tree(tree), char_device("dev/null", 1, 3, 0o666)], key=lambda e: e.name
    )
    out = tmp_path / "initramfs.cpio"
    write_cpio(entries, out)
    with out.open("rb") as handle:
        listing = subprocess.run(
            ["cpio", "-t", "--quiet"], stdin=handle, capture_output=True, text=True, check=True
        )
    assert listing.stdout.splitlines() == [e.name for e in entries]
    with out.open("rb") as handle:
        verbose = subprocess.run(
            ["cpio", "-tv", "--quiet"], stdin=handle, capture_output=True, text=True, check=True
        ).stdout
    device = next(line for line in verbose.splitlines() if line.endswith("dev/null"))
    assert re.match(r"crw-rw-rw- +1 root +root +1, +3 Jan +1 +1970 dev/null$", device), device


# -- library closure ---------------------------------------------------------------


@pytest.fixture
def libroot(tmp_path: Path) -> tuple[list[Path], dict[str, list[str]]]:
    lib = tmp_path / "lib"
    usr = tmp_path / "usr" / "lib"
    lib.mkdir()
    usr.mkdir(parents=True)
    (lib / "libkmod.so.2.4.0").write_bytes(b"kmod")
    (lib / "libkmod.so.2").symlink_to("libkmod.so.2.4.0")
    (lib / "libc.so.6").write_bytes(b"c")
    (lib / "ld-linux-x86-64.so.2").write_bytes(b"ld")
    (usr / "liblzma.so.5").write_bytes(b"lzma")
    (usr / "libglib-2.0.so.0").write_bytes(b"glib")
    needs = {
        "kmod": ["libkmod.so.2", "libc.so.6"],
        "qemu-ga": ["libglib-2.0.so.0", "libc.so.6"],
        # Asked for by the resolved name, as the closure follows symlinks.
        "libkmod.so.2.4.0": ["liblzma.so.5", "libc.so.6"],
        "liblzma.so.5": ["libc.so.6"],
        "libglib-2.0.so.0": ["libc.so.6"],
        "libc.so.6": ["ld-linux-x86-64.so.2"],
        "ld-linux-x86-64.so.2": [],
    }
    return [lib, usr], needs


def test_library_closure_transitive(
    libroot: tuple[list[Path], dict[str, list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    search, needs = libroot
    asked: list[str] = []

    def fake_needed(elf: Path) -> list[str]:
        asked.append(elf.name)
        return needs[elf.name]

    monkeypatch.setattr(initramfs, "needed_libraries", fake_needed)
    found = initramfs.library_closure([Path("/x/kmod"), Path("/x/qemu-ga")], search)
    lib, usr = search
    assert found == {
        "libkmod.so.2": lib / "libkmod.so.2",
        "libc.so.6": lib / "libc.so.6",
        "ld-linux-x86-64.so.2": lib / "ld-linux-x86-64.so.2",
        "liblzma.so.5": usr / "liblzma.so.5",
        "libglib-2.0.so.0": usr / "libglib-2.0.so.0",
    }
    assert sorted(asked) == sorted(needs)  # each file read once


def test_library_closure_missing_soname(
    libroot: tuple[list[Path], dict[str, list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    search, needs = libroot
    needs["liblzma.so.5"] = ["libzstd.so.1"]
    monkeypatch.setattr(initramfs, "needed_libraries", lambda elf: needs[elf.name])
    with pytest.raises(BundleBuildError, match=r"libzstd\.so\.1.*vm/packages\.txt"):
        initramfs.library_closure([Path("/x/kmod")], search)


READELF = """
Dynamic section at offset 0x2dd8 contains 26 entries:
  Tag        Type                         Name/Value
 0x0000000000000001 (NEEDED)             Shared library: [libkmod.so.2]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000000e (SONAME)             Library soname: [libfoo.so.1]
 0x000000000000000c (INIT)               0x4000
"""


def test_needed_libraries_parses_readelf(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    timeouts: list[object] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        timeouts.append(kwargs.get("timeout"))
        return subprocess.CompletedProcess(argv, 0, READELF, "")

    monkeypatch.setattr(tools.subprocess, "run", fake_run)
    assert initramfs.needed_libraries(Path("/bin/kmod")) == ["libkmod.so.2", "libc.so.6"]
    assert calls == [["readelf", "-d", "/bin/kmod"]]
    assert timeouts == [tools.QUICK_TIMEOUT]


def test_needed_libraries_readelf_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "readelf: Error: Not an ELF file")

    monkeypatch.setattr(tools.subprocess, "run", fake_run)
    with pytest.raises(BundleBuildError, match="Not an ELF file"):
        initramfs.needed_libraries(Path("/etc/passwd"))
