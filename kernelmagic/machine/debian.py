# SPDX-License-Identifier: MIT
"""Fetching Debian packages without root: ``apt-get download`` + ``dpkg-deb -x``.

The bundle is made from the distribution's own packages so the lab VM runs the very
kernel Debian ships, and the host's ``/boot`` and ``/lib/modules`` stay untouched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.errors import BundleBuildError, SetupError
from kernelmagic.machine.tools import run_tool

__all__ = [
    "Package",
    "available_kernel_releases",
    "candidate_version",
    "default_kernel_release",
    "download",
    "extract",
    "header_dependencies",
    "newest_cached_version",
    "sha256_file",
]

log = logging.getLogger(__name__)

#: apt-get download fetches about 100 MB, on whatever network the host has.
APT_TIMEOUT = 600.0
#: apt-cache only reads local lists.
APT_CACHE_TIMEOUT = 60.0
#: dpkg-deb -x of the kernel image (70 MB of xz, 400 MB unpacked) takes 3 s here.
DPKG_TIMEOUT = 120.0


@dataclass(frozen=True)
class Package:
    """One downloaded ``.deb``: what it is and the bytes we used."""

    name: str
    version: str
    path: Path
    sha256: str


def _run(argv: list[str], timeout: float = APT_CACHE_TIMEOUT, cwd: Path | None = None) -> str:
    """Run an apt or dpkg tool in the C locale (we parse its output); its stdout."""
    if shutil.which(argv[0]) is None:
        raise SetupError(
            f"{argv[0]} is not installed; kernelmagic builds its VM from Debian packages "
            "and needs a Debian host with apt (run: make setup)"
        )
    env = dict(os.environ, LC_ALL="C", LANG="C")
    proc = run_tool(argv, timeout=timeout, env=env, cwd=cwd)
    if proc.returncode != 0:
        raise BundleBuildError(
            f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    return proc.stdout


def default_kernel_release() -> str:
    """The release Debian's ``linux-image-amd64`` resolves to now, e.g. ``6.1.0-56-amd64``."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    for match in re.finditer(r"Depends:\s+linux-image-(\S+)", out):
        release = match.group(1)
        if release[0].isdigit():
            return release
    raise BundleBuildError(
        "apt knows no linux-image-amd64; run `sudo apt-get update` and try again"
    )


def candidate_version(package: str) -> str | None:
    """The version apt would download for ``package``, or None if apt offers none."""
    out = _run(["apt-cache", "policy", package])
    match = re.search(r"Candidate:\s+(\S+)", out)
    if match is None or match.group(1) == "(none)":
        return None
    return match.group(1)


def header_dependencies(release: str) -> list[str]:
    """The ``-common`` headers and ``linux-kbuild-*`` packages the arch headers need."""
    out = _run(["apt-cache", "depends", f"linux-headers-{release}"])
    names = re.findall(r"Depends:\s+(linux-(?:headers-\S+-common|kbuild-\S+))", out)
    if not names:
        raise BundleBuildError(f"apt lists no dependencies for linux-headers-{release}")
    return sorted(set(names))


def available_kernel_releases() -> list[str]:
    """Kernel releases apt can download, for the message when one is missing."""
    out = _run(["apt-cache", "search", "--names-only", r"^linux-image-[0-9].*-amd64$"])
    releases = {line.split()[0].removeprefix("linux-image-") for line in out.splitlines()}
    return sorted(r for r in releases if not r.endswith("-unsigned") and "-dbg" not in r)


def sha256_file(path: Path) -> str:
    """The checksum the manifest records for a file (read in 1 MiB pieces)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(names: list[str], dest: Path, pins: Mapping[str, str] | None = None) -> list[Package]:
    """Download each package into ``dest`` (kept as a cache) and return what was used.

    A version in ``pins`` whose ``.deb`` is cached is used as is, so rebuilding a bundle
    needs no network and gives the same bytes; otherwise apt's candidate version is
    fetched, and when apt no longer offers a package (Debian drops superseded kernels),
    the newest cached ``.deb`` of it is used.
    """
    dest.mkdir(parents=True, exist_ok=True)
    pins = pins or {}
    wanted: dict[str, str] = {}
    for name in names:
        pinned = pins.get(name)
        if pinned and _find_deb(dest, name, pinned) is not None:
            wanted[name] = pinned
            continue
        version = candidate_version(name)
        if version is None:
            version = newest_cached_version(dest, name)
        if version is None:
            raise BundleBuildError(f"apt offers no package {name}; run `sudo apt-get update`")
        wanted[name] = version
    missing = [n for n, v in wanted.items() if _find_deb(dest, n, v) is None]
    if missing:
        log.info("downloading %s", " ".join(missing))
        argv = ["apt-get", "download", *(f"{n}={wanted[n]}" for n in missing)]
        if os.geteuid() == 0:
            # As root apt drops to the _apt user, who may not write here; that
            # only costs a warning, which we silence by downloading as root.
            argv[1:1] = ["-o", "APT::Sandbox::User=root"]
        _run(argv, timeout=APT_TIMEOUT, cwd=dest)
    packages = []
    for name, version in wanted.items():
        path = _find_deb(dest, name, version)
        if path is None:
            raise BundleBuildError(f"apt-get download did not produce {name} {version}")
        packages.append(Package(name, version, path, sha256_file(path)))
    return packages


def newest_cached_version(folder: Path, name: str) -> str | None:
    """The highest version of ``name`` among the cached ``.deb`` files, if any."""
    versions = [
        deb.name[len(name) + 1 :].rsplit("_", 1)[0].replace("%3a", ":")
        for deb in folder.glob(f"{name}_*.deb")
    ]
    if not versions:
        return None
    return max(versions, key=_version_key)


def _version_key(version: str) -> list[tuple[int, object]]:
    # Good enough for picking the newest of a few cached builds of one package.
    return [(0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"[.:+~-]", version)]  # fmt: skip


def _find_deb(folder: Path, name: str, version: str) -> Path | None:
    # apt names files NAME_VERSION_ARCH.deb with ':' in the epoch escaped as %3a.
    quoted = version.replace(":", "%3a")
    for candidate in folder.glob(f"{name}_*.deb"):
        if candidate.name.startswith(f"{name}_{quoted}_"):
            return candidate
    return None


def extract(package: Package, root: Path) -> None:
    """Unpack a ``.deb`` into ``root`` without running its maintainer scripts."""
    _run(["dpkg-deb", "-x", str(package.path), str(root)], timeout=DPKG_TIMEOUT)
