# SPDX-License-Identifier: MIT
"""Building the bundle from Debian packages, for real, twice: same inputs, same bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kernelmagic import paths
from kernelmagic.machine.bundle import Bundle, build_bundle
from kernelmagic.machine.debian import sha256_file

pytestmark = pytest.mark.integration


def _seeded_home(tmp: Path, name: str) -> Path:
    """A fresh KERNELMAGIC_HOME whose package cache is the real one (no download)."""
    home = tmp / name
    (home / "debs").mkdir(parents=True)
    for deb in paths.downloads_dir().glob("*.deb"):
        try:
            os.link(deb, home / "debs" / deb.name)
        except OSError:  # another filesystem (a tmpfs /tmp): copy instead
            shutil.copy2(deb, home / "debs" / deb.name)
    return home


def test_bundle_is_reproducible_and_complete(bundle: Bundle, tmp_path: Path) -> None:
    release = bundle.kernel_release
    # The same package versions as the lab's bundle, from the cache: no network, and
    # still buildable after Debian's mirror has moved on to newer packages.
    pins = {p["name"]: p["version"] for p in bundle.manifest["packages"]}
    first = build_bundle(release, home=_seeded_home(tmp_path, "a"), pins=pins)
    second = build_bundle(release, home=_seeded_home(tmp_path, "b"), pins=pins)
    assert first.manifest["packages"] == bundle.manifest["packages"]
    for name in ("vmlinux", "vmlinuz", "initramfs.cpio", "manifest.json"):
        assert sha256_file(first.root / name) == sha256_file(second.root / name), name
    manifest = first.manifest
    names = {p["name"] for p in manifest["packages"]}
    assert {f"linux-image-{release}", "busybox-static", "kmod", "qemu-guest-agent"} <= names
    assert all(len(p["sha256"]) == 64 and p["version"] for p in manifest["packages"])
    modules = {Path(m).name.split(".")[0] for m in manifest["modules"]}
    lessons = {"bridge", "stp", "llc", "tcp_lp", "isofs", "fuse", "ext4", "jbd2", "mbcache"}
    assert lessons <= modules
    assert first.vmlinux.read_bytes()[:4] == b"\x7fELF"
    # No half-built folder is left behind, and the builder's scratch space is gone.
    assert not list((first.root.parent).glob(".tmp-*"))
    assert (first.kbuild_dir / "Makefile").read_text().startswith("include ../")
    shutil.rmtree(tmp_path / "a")
    shutil.rmtree(tmp_path / "b")


def test_unchanged_bundle_is_not_rebuilt(bundle: Bundle) -> None:
    before = bundle.vmlinux.stat().st_mtime_ns
    again = build_bundle(bundle.kernel_release)
    assert again.root == bundle.root
    assert again.vmlinux.stat().st_mtime_ns == before
