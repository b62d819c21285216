# SPDX-License-Identifier: MIT
"""Turning unpacked Debian packages into the bundle's parts.

The ELF kernel out of ``vmlinuz`` (:func:`extract_vmlinux`), the guest's root
filesystem packed as the initramfs (:func:`build_initramfs`: busybox, kmod, qemu-ga
with its libraries, the chosen modules and their dependencies, the recipe's init and
helpers), and the kbuild tree (:func:`stage_kbuild`). :mod:`kernelmagic.machine.bundle`
decides what goes in and records it.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
from pathlib import Path

from kernelmagic.errors import BundleBuildError, SetupError
from kernelmagic.machine import initramfs
from kernelmagic.machine.tools import QUICK_TIMEOUT, host_tool, run_tool

__all__ = [
    "HELPER_SOURCE",
    "build_initramfs",
    "compile_helper",
    "extract_vmlinux",
    "stage_kbuild",
    "stage_root",
]

#: The C source of the guest's module-operation helper, in the recipe folder.
HELPER_SOURCE = "modop.c"
#: Static (the initramfs has no libc of that name for it), optimised, stripped: the
#: same source and compiler give the same bytes, so the bundle stays reproducible.
HELPER_CFLAGS = ("-static", "-O2", "-s", "-Wall")

_XZ_MAGIC = b"\xfd7zXZ\x00"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def extract_vmlinux(vmlinuz: Path, out: Path) -> None:
    """Decompress the payload of a bzImage into the ELF ``vmlinux``.

    QEMU boots that ELF through its PVH entry point, skipping the decompressor that
    costs about two seconds under TCG. Debian's 6.1 kernels are xz-compressed, its
    6.12 kernels zstd-compressed (read with the host's ``zstd``).
    """
    blob = vmlinuz.read_bytes()
    for magic, unpack in ((_XZ_MAGIC, _unxz), (_ZSTD_MAGIC, _unzstd)):
        start = blob.find(magic)
        while start != -1:
            data = unpack(blob[start:])
            if data.startswith(b"\x7fELF"):
                out.write_bytes(data)
                return
            start = blob.find(magic, start + 1)
    raise BundleBuildError(
        f"no xz-compressed ELF kernel (nor a zstd-compressed one) found inside {vmlinuz}"
    )


def _unxz(data: bytes) -> bytes:
    try:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    except lzma.LZMAError:
        return b""


def _unzstd(data: bytes) -> bytes:
    """The first zstd frame of ``data`` (what follows it is the rest of the bzImage)."""
    zstd = shutil.which("zstd")
    if zstd is None:
        raise SetupError("this kernel image is zstd-compressed: run sudo apt-get install zstd")
    try:
        proc = subprocess.run([zstd, "-dcq"], input=data, capture_output=True, timeout=120,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BundleBuildError("zstd took more than 120 s to unpack the kernel") from exc
    return proc.stdout  # trailing bytes make zstd complain after the frame; the frame counts


def build_initramfs(
    pkgroot: Path, out: Path, release: str, recipe: Path, modules: list[str]
) -> list[str]:
    """Write the initramfs ``out`` from the unpacked packages and the recipe's files.

    ``modules`` are the kernel modules the recipe asks for (their dependencies come
    too). Returns the module files copied in, relative to ``/lib/modules/<release>``.
    """
    root = out.parent / "initrd"
    copied = stage_root(pkgroot, root, release, recipe, modules)
    entries = list(initramfs.entries_from_tree(root))
    entries.append(initramfs.char_device("dev/console", 5, 1))
    entries.append(initramfs.char_device("dev/null", 1, 3, 0o666))
    entries.append(initramfs.char_device("dev/ttyS1", 4, 65))  # the agent's port
    entries.sort(key=lambda entry: entry.name)
    initramfs.write_cpio(entries, out)
    shutil.rmtree(root)
    return copied


def stage_root(
    pkgroot: Path, root: Path, release: str, recipe: Path, modules: list[str]
) -> list[str]:
    """Lay out the guest's root filesystem; return the modules copied in."""
    for folder in (
        "bin", "sbin", "usr/bin", "usr/sbin", "usr/local/sbin", "lib/x86_64-linux-gnu",
        "lib64", "proc", "sys", "dev", "run", "tmp", "mnt/host", "etc", "root", "var/lib/qga",
    ):  # fmt: skip
        (root / folder).mkdir(parents=True, exist_ok=True)

    busybox = pkgroot / "bin" / "busybox"
    _install(busybox, root / "bin" / "busybox")
    for applet in _busybox_applets(busybox):
        target = root / applet
        if applet != "bin/busybox" and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to("/bin/busybox")

    kmod = pkgroot / "bin" / "kmod"
    qga = pkgroot / "usr" / "sbin" / "qemu-ga"
    _install(kmod, root / "bin" / "kmod")
    for tool in ("modprobe", "depmod", "insmod", "rmmod", "lsmod", "modinfo"):
        for folder in ("sbin", "bin"):
            link = root / folder / tool
            if link.is_symlink() or link.exists():
                link.unlink()
        (root / "sbin" / tool).symlink_to("/bin/kmod")
    _install(qga, root / "usr" / "sbin" / "qemu-ga")

    search = [pkgroot / "lib" / "x86_64-linux-gnu", pkgroot / "usr" / "lib" / "x86_64-linux-gnu"]
    for soname, path in sorted(initramfs.library_closure([kmod, qga], search).items()):
        _install(path.resolve(), root / "lib" / "x86_64-linux-gnu" / soname)
    (root / "lib64" / "ld-linux-x86-64.so.2").symlink_to(
        "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    )

    _install(recipe / "init", root / "init")
    sbin = root / "usr" / "local" / "sbin"
    _install(recipe / "mount-share", sbin / "kernelmagic-mount-share")
    _install(recipe / "kernel-log", sbin / "kernelmagic-kernel-log")
    compile_helper(recipe / HELPER_SOURCE, sbin / "kernelmagic-modop")
    shutdown = root / "sbin" / "shutdown"
    if shutdown.is_symlink():
        shutdown.unlink()
    _install(recipe / "shutdown", shutdown)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    (root / "etc" / "hostname").write_text("kernelmagic\n")

    return _stage_modules(pkgroot, root, release, modules)


def compile_helper(source: Path, out: Path) -> None:
    """Build a guest helper from C with the host's gcc (the guest runs the same x86-64)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [host_compiler(), *HELPER_CFLAGS, "-o", str(out.resolve()), source.name]
    # Compiled from inside the recipe folder by its bare name, so no host path is in it.
    proc = run_tool(argv, timeout=QUICK_TIMEOUT * 4, cwd=source.parent)
    if proc.returncode != 0:
        raise BundleBuildError(
            f"compiling the guest helper {source.name} failed (needs gcc and libc6-dev):\n"
            f"{proc.stderr.strip()}"
        )
    out.chmod(0o755)


def host_compiler() -> str:
    """The host's C compiler, for the guest helper."""
    found = shutil.which("gcc")
    if found is None:
        raise SetupError("gcc is missing on the host; run: sudo apt-get install gcc libc6-dev")
    return found


def _stage_modules(pkgroot: Path, root: Path, release: str, wanted: list[str]) -> list[str]:
    source = pkgroot / "lib" / "modules" / release
    index = {_module_name(p): p for p in (source / "kernel").rglob("*.ko*")}
    # A newer kernel may build in what an older one shipped as a module (Debian's 6.12
    # has fuse and virtio built in); modprobe then finds it there, nothing to copy.
    try:
        listed = (source / "modules.builtin").read_text().split()
    except OSError:
        listed = []
    builtin = {_module_name(Path(line)) for line in listed}
    chosen: dict[str, Path] = {}
    pending = list(wanted)
    while pending:
        name = pending.pop().replace("-", "_")
        if name in chosen or (name in builtin and name not in index):
            continue
        if name not in index:
            raise BundleBuildError(f"kernel {release} has no module {name} (vm/modules.txt)")
        chosen[name] = index[name]
        pending.extend(_module_depends(index[name]))
    dest = root / "lib" / "modules" / release
    dest.mkdir(parents=True, exist_ok=True)
    for path in chosen.values():
        _install(path, dest / path.relative_to(source))
    for extra in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (source / extra).exists():
            shutil.copyfile(source / extra, dest / extra)
    # Debian's System.map is a placeholder (the real one is in the -dbg package), so
    # depmod runs without it: it only needs the modules themselves.
    proc = run_tool([host_tool("depmod"), "-b", str(root), release], timeout=QUICK_TIMEOUT)
    if proc.returncode != 0:
        raise BundleBuildError(f"depmod failed: {proc.stderr.strip()}")
    return sorted(str(p.relative_to(source)) for p in chosen.values())


def _module_name(path: Path) -> str:
    return re.sub(r"\.ko(\.\w+)?$", "", path.name).replace("-", "_")


def _module_depends(path: Path) -> list[str]:
    proc = run_tool([host_tool("modinfo"), "-F", "depends", str(path)], timeout=QUICK_TIMEOUT)
    if proc.returncode != 0:
        raise BundleBuildError(f"modinfo failed on {path}: {proc.stderr.strip()}")
    return [d for d in proc.stdout.strip().split(",") if d]


def _busybox_applets(busybox: Path) -> list[str]:
    # The static busybox is an x86-64 program like the host; ask it for its applets.
    proc = run_tool([str(busybox), "--list-full"], timeout=QUICK_TIMEOUT)
    if proc.returncode != 0:
        raise BundleBuildError(f"busybox --list-full failed: {proc.stderr.strip()}")
    return sorted(line.strip() for line in proc.stdout.splitlines() if line.strip())


def _install(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    dest.chmod(0o755 if os.access(src, os.X_OK) else 0o644)


def stage_kbuild(pkgroot: Path, dest: Path, release: str) -> None:
    """Move the headers and kbuild scripts, and make the arch Makefile's include relative.

    Debian's ``linux-headers-<release>/Makefile`` includes the ``-common`` tree by its
    absolute ``/usr/src`` path; relative, the tree works wherever the bundle lives.
    """
    for sub in ("usr/src", "usr/lib"):
        for item in sorted((pkgroot / sub).glob("linux-*")):
            if item.name.startswith(("linux-headers-", "linux-kbuild-")):
                target = dest / sub / item.name
                target.parent.mkdir(parents=True, exist_ok=True)
                item.rename(target)
    makefile = dest / "usr" / "src" / f"linux-headers-{release}" / "Makefile"
    if not makefile.is_file():
        raise BundleBuildError(f"linux-headers-{release} has no Makefile")
    text = makefile.read_text()
    fixed = re.sub(r"include /usr/src/(\S+)", r"include ../\1", text)
    makefile.write_text(fixed)
