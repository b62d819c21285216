# SPDX-License-Identifier: MIT
"""The lab VM bundle: kernel, initramfs and kbuild tree, built from Debian packages.

Layout under ``$KERNELMAGIC_HOME/bundle/<kernel release>/``::

    manifest.json   every package, version and checksum; the files' checksums
    vmlinux         the uncompressed ELF kernel, booted directly by QEMU (PVH)
    initramfs.cpio  busybox, kmod, qemu-guest-agent, the chosen modules, our init
    kbuild/         the matching headers and kbuild tree (usr/src, usr/lib)
    System.map, config

A bundle is built in a temporary folder and renamed into place at the end, so a
half-built bundle is never mistaken for a good one. ``bundle/current`` names the
release the lab uses; ``$KERNELMAGIC_KERNEL_VERSION`` overrides it for one process and
what it starts (a batch run against another kernel sets it for its Jupyter kernels,
without changing the machine's lab).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelmagic import paths
from kernelmagic.errors import BundleBuildError, BundleIncomplete, BundleMissing, SetupError
from kernelmagic.files import write_atomically
from kernelmagic.machine import debian
from kernelmagic.machine.staging import build_initramfs, extract_vmlinux, stage_kbuild
from kernelmagic.procs import pid_alive

__all__ = [
    "BUILTIN_LIST",
    "BUNDLE_FORMAT",
    "RECIPE_DIR",
    "RECIPE_FILES",
    "RELEASE_ENV",
    "Bundle",
    "build_bundle",
    "module_file_name",
    "read_list",
    "recipe_digest",
    "tree_size",
]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 2
#: The kernel's list of built-in modules, kept beside the manifest.
BUILTIN_LIST = "modules.builtin"
# The files of vm/ that shape the bundle (host-packages.* are for the host, not the VM).
RECIPE_FILES = (
    "init", "mount-share", "kernel-log", "shutdown", "modop.c", "packages.txt", "modules.txt",
)  # fmt: skip


def _recipe_dir() -> Path:
    """vm/ beside the package (a checkout), else the copy a wheel installs."""
    beside = Path(__file__).resolve().parents[2] / "vm"
    if (beside / "init").is_file():
        return beside
    return Path(sys.prefix) / "share" / "kernelmagic" / "vm"


RECIPE_DIR = _recipe_dir()
_FIX = "run `kernelmagic vm build` (or `make setup`)"
#: The environment variable that picks a bundle other than ``bundle/current``.
RELEASE_ENV = "KERNELMAGIC_KERNEL_VERSION"


@dataclass(frozen=True)
class Bundle:
    """A built bundle on disk; ``load`` checks it is whole before anyone boots it."""

    root: Path
    kernel_release: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def vmlinux(self) -> Path:
        return self.root / "vmlinux"

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initramfs(self) -> Path:
        return self.root / "initramfs.cpio"

    @property
    def kbuild_dir(self) -> Path:
        """The folder to pass as ``make -C``: the arch headers of this kernel."""
        return self.root / "kbuild" / "usr" / "src" / f"linux-headers-{self.kernel_release}"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @classmethod
    def load(cls, release: str | None = None, home: Path | None = None) -> Bundle:
        base = (home / "bundle") if home else paths.bundle_root()
        if release is None:
            release = os.environ.get(RELEASE_ENV, "").strip() or None
            if release is not None and not (base / release / "manifest.json").is_file():
                raise BundleMissing(
                    f"{RELEASE_ENV}={release}, but there is no bundle for it in {base}; "
                    f"run `kernelmagic vm build --kernel-version {release}`"
                )
        if release is None:
            current = base / "current"
            if not current.is_file():
                raise BundleMissing(f"no lab VM bundle in {base}; {_FIX}")
            release = current.read_text().strip()
        root = base / release
        manifest_path = root / "manifest.json"
        if not manifest_path.is_file():
            raise BundleMissing(f"no lab VM bundle for kernel {release} in {base}; {_FIX}")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise BundleIncomplete(
                f"the bundle manifest {manifest_path} is damaged; "
                "run `kernelmagic vm build --force`"
            ) from exc
        bundle = cls(root, release, manifest)
        missing = [
            p.name
            for p in (bundle.vmlinux, bundle.initramfs, bundle.kbuild_dir / "Makefile")
            if not p.exists()
        ]
        if missing or manifest.get("format") != BUNDLE_FORMAT:
            what = ", ".join(missing) or "an older bundle format"
            raise BundleIncomplete(
                f"the bundle in {root} is incomplete ({what}); run `kernelmagic vm build --force`"
            )
        return bundle

    def size_bytes(self) -> int:
        return tree_size(self.root)

    def taken_module_names(self) -> dict[str, str]:
        """Modules built into this kernel or shipped in the VM, each with where it is.

        A learner's module of such a name (``ext4``, ``bridge``) would be refused as
        already loaded, or shadow the real one for ``modprobe``.
        """
        shipped = [module_file_name(path) for path in self.manifest.get("modules", [])]
        taken = {name: f"shipped in the lab VM; %modprobe {name} loads it" for name in shipped}
        with contextlib.suppress(OSError):  # a bundle built before the list was kept
            for path in (self.root / BUILTIN_LIST).read_text().split():
                taken[module_file_name(path)] = "built into the kernel"
        return taken


def module_file_name(path: str) -> str:
    """``kernel/fs/ext4/ext4.ko.xz`` -> ``ext4``; the kernel's ``-`` and ``_`` are one."""
    name = path.strip().rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.\w+)?$", "", name).replace("-", "_")


def tree_size(root: Path) -> int:
    """Bytes used by the files under ``root`` (symlinks not followed)."""
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def recipe_digest(recipe: Path = RECIPE_DIR) -> str:
    """A hash of the recipe files, so a changed init or module list triggers a rebuild."""
    digest = hashlib.sha256()
    for path in sorted(recipe.iterdir()):
        if path.is_file() and path.name in RECIPE_FILES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def read_list(path: Path) -> list[str]:
    """Non-empty, non-comment lines of a recipe list file."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def build_bundle(
    kernel_release: str | None = None,
    *,
    force: bool = False,
    home: Path | None = None,
    recipe: Path = RECIPE_DIR,
    pins: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    make_current: bool = True,
) -> Bundle:
    """Build (or reuse) the bundle for ``kernel_release`` and make it the current one.

    Without a release, the machine's current bundle is kept (it is built once and kept,
    since Debian drops superseded kernels); ``force`` without a release rebuilds for the
    kernel ``linux-image-amd64`` points to now. ``pins`` (package → version) choose
    cached packages; by default, those of an earlier bundle of the same release.
    ``make_current=False`` leaves ``bundle/current`` alone (a batch run on another
    kernel must not move the lab of everyone else on the machine).
    """
    base = (home / "bundle") if home else paths.bundle_root()
    debs = (home / "debs") if home else paths.downloads_dir()
    if not recipe.is_dir():
        raise SetupError(f"the VM recipe folder {recipe} is missing; reinstall kernelmagic")
    current = base / "current"
    if kernel_release:
        release = kernel_release
    elif not force and current.is_file():
        release = current.read_text().strip()
    else:
        release = _resolve_default_release(base)
    digest = recipe_digest(recipe)
    if pins is None:
        pins = _manifest_versions(base / release)
    if not force:
        try:
            existing = Bundle.load(release, home)
        except (BundleMissing, BundleIncomplete):
            existing = None
        if existing and existing.manifest.get("recipe_sha256") == digest:
            if make_current:
                _set_current(base, release)
            progress(f"bundle for {release} is up to date ({existing.root})")
            return existing
    image = f"linux-image-{release}"
    if (
        debian.candidate_version(image) is None
        and debian.newest_cached_version(debs, image) is None
    ):
        offered = ", ".join(debian.available_kernel_releases()) or "none"
        raise BundleBuildError(
            f"apt offers no kernel {release} (Debian drops superseded kernels); "
            f"kernels apt offers now: {offered}"
        )
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(".tmp-*"):
        # Another process's build in progress is left alone; a dead one's is removed.
        owner = stale.name.rsplit("-", 1)[-1]
        if not owner.isdigit() or not pid_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    work = base / f".tmp-{release}-{os.getpid()}"
    try:
        work.mkdir()
        _build_into(work, release, recipe, digest, debs, pins, progress)
        final = base / release
        if final.exists():
            old = base / f".tmp-old-{release}-{os.getpid()}"
            final.rename(old)
            shutil.rmtree(old)
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if make_current or not current.is_file():
        _set_current(base, release)
    bundle = Bundle.load(release, home)
    progress(f"bundle for {release} built in {bundle.root}")
    return bundle


def _manifest_versions(root: Path) -> dict[str, str]:
    """Package versions an earlier bundle in ``root`` was made from (empty if none)."""
    try:
        manifest = json.loads((root / "manifest.json").read_text())
        return {p["name"]: p["version"] for p in manifest["packages"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _resolve_default_release(base: Path) -> str:
    try:
        return debian.default_kernel_release()
    except (BundleBuildError, SetupError):
        current = base / "current"
        if current.is_file():
            # Offline or apt lists gone: the bundle we already have is the right one.
            return current.read_text().strip()
        raise


def _set_current(base: Path, release: str) -> None:
    """Make ``release`` the lab's bundle (a starting lab may be reading the file)."""
    write_atomically(base / "current", release + "\n")


def _build_into(
    work: Path,
    release: str,
    recipe: Path,
    digest: str,
    debs: Path,
    pins: dict[str, str],
    progress: Callable[[str], None],
) -> None:
    names = [
        f"linux-image-{release}",
        f"linux-headers-{release}",
        *debian.header_dependencies(release),
        *read_list(recipe / "packages.txt"),
    ]
    progress(f"downloading {len(names)} Debian packages")
    packages = debian.download(names, debs, pins)
    pkgroot = work / "pkgroot"
    progress("unpacking packages")
    for package in packages:
        debian.extract(package, pkgroot)

    progress("extracting the ELF kernel (vmlinux) from vmlinuz")
    extract_vmlinux(pkgroot / "boot" / f"vmlinuz-{release}", work / "vmlinux")
    # The compressed image too, for tools that boot a bzImage (the benchmark's reference).
    shutil.copyfile(pkgroot / "boot" / f"vmlinuz-{release}", work / "vmlinuz")
    shutil.copyfile(pkgroot / "boot" / f"config-{release}", work / "config")

    progress("assembling the initramfs")
    wanted = read_list(recipe / "modules.txt")
    modules = build_initramfs(pkgroot, work / "initramfs.cpio", release, recipe, wanted)

    progress("installing the kbuild tree")
    stage_kbuild(pkgroot, work / "kbuild", release)
    builtin = pkgroot / "lib" / "modules" / release / BUILTIN_LIST
    if builtin.is_file():  # which modules are built into the kernel: names taken
        shutil.copyfile(builtin, work / BUILTIN_LIST)
    shutil.rmtree(pkgroot)

    manifest = {
        "format": BUNDLE_FORMAT,
        "kernel_release": release,
        "recipe_sha256": digest,
        "packages": [
            {"name": p.name, "version": p.version, "file": p.path.name, "sha256": p.sha256}
            for p in sorted(packages, key=lambda p: p.name)
        ],
        "modules": modules,
        "files": {
            name: debian.sha256_file(work / name)
            for name in ("vmlinux", "vmlinuz", "initramfs.cpio", "config")
        },
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
