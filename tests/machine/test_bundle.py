# SPDX-License-Identifier: MIT
"""bundle.py, staging.py and debian.py without apt: vmlinux extraction, loading and
checking a bundle, the recipe digest, the up-to-date shortcut, parsing what apt prints,
and the deadline every tool gets."""

from __future__ import annotations

import json
import lzma
import random
import subprocess
import time
from pathlib import Path

import pytest

from kernelmagic.errors import BundleBuildError, BundleIncomplete, BundleMissing, SetupError
from kernelmagic.machine import debian, staging, tools
from kernelmagic.machine.bundle import (
    BUNDLE_FORMAT,
    Bundle,
    build_bundle,
    read_list,
    recipe_digest,
)
from kernelmagic.machine.staging import extract_vmlinux

RELEASE = "6.1.0-56-amd64"
ELF = b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 64


def _xz(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ)


# -- extract_vmlinux -----------------------------------------------------------------


def test_extract_vmlinux_skips_decoys(tmp_path: Path) -> None:
    rng = random.Random(1)
    blob = (
        rng.randbytes(3000)
        + b"\xfd7zXZ\x00" + rng.randbytes(100)  # magic followed by garbage
        + _xz(b"not a kernel, just a compressed blob" * 10)  # valid xz, not ELF
        + rng.randbytes(500)
        + _xz(ELF)
        + b"\x00\x10\x00\x00" + rng.randbytes(700)  # trailing size field and padding
    )  # fmt: skip
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(blob)
    out = tmp_path / "vmlinux"
    extract_vmlinux(vmlinuz, out)
    assert out.read_bytes() == ELF


def test_extract_vmlinux_with_x86_filter(tmp_path: Path) -> None:
    """Linux compresses with xz's x86 BCJ filter; the decompressor must undo it."""
    filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(b"MZ" + bytes(510) + lzma.compress(ELF, lzma.FORMAT_XZ, filters=filters))
    extract_vmlinux(vmlinuz, tmp_path / "vmlinux")
    assert (tmp_path / "vmlinux").read_bytes() == ELF


def test_extract_vmlinux_absent(tmp_path: Path) -> None:
    vmlinuz = tmp_path / "vmlinuz"
    vmlinuz.write_bytes(random.Random(2).randbytes(4000) + _xz(b"no elf here"))
    with pytest.raises(BundleBuildError, match="no xz-compressed ELF kernel"):
        extract_vmlinux(vmlinuz, tmp_path / "vmlinux")
    assert not (tmp_path / "vmlinux").exists()


# -- Bundle.load ---------------------------------------------------------------------


def make_bundle(
    home: Path, release: str = RELEASE, *, current: bool = True, **manifest: object
) -> Path:
    root = home / "bundle" / release
    kbuild = root / "kbuild" / "usr" / "src" / f"linux-headers-{release}"
    kbuild.mkdir(parents=True)
    (kbuild / "Makefile").write_text("include ../linux-headers-common/Makefile\n")
    (root / "vmlinux").write_bytes(ELF)
    (root / "initramfs.cpio").write_bytes(b"070701")
    data = {"format": BUNDLE_FORMAT, "kernel_release": release, **manifest}
    (root / "manifest.json").write_text(json.dumps(data))
    if current:
        (home / "bundle" / "current").write_text(release + "\n")
    return root


def test_load_current(home: Path) -> None:
    root = make_bundle(home)
    bundle = Bundle.load()
    assert bundle.root == root
    assert bundle.kernel_release == RELEASE
    assert bundle.vmlinux == root / "vmlinux"
    assert bundle.initramfs == root / "initramfs.cpio"
    assert bundle.kbuild_dir == root / "kbuild/usr/src/linux-headers-6.1.0-56-amd64"
    assert bundle.size_bytes() >= len(ELF)
    assert Bundle.load(RELEASE, home).root == root


def test_load_without_current(home: Path) -> None:
    with pytest.raises(BundleMissing, match="kernelmagic vm build"):
        Bundle.load()


def test_load_without_manifest(home: Path) -> None:
    (home / "bundle").mkdir(parents=True)
    (home / "bundle" / "current").write_text("6.1.0-99-amd64\n")
    with pytest.raises(BundleMissing, match=r"6\.1\.0-99-amd64.*kernelmagic vm build"):
        Bundle.load()


def test_load_damaged_manifest(home: Path) -> None:
    root = make_bundle(home)
    (root / "manifest.json").write_text('{"format": 2,')
    with pytest.raises(BundleIncomplete, match=r"damaged.*kernelmagic vm build --force"):
        Bundle.load()


def test_load_missing_vmlinux(home: Path) -> None:
    root = make_bundle(home)
    (root / "vmlinux").unlink()
    with pytest.raises(BundleIncomplete, match=r"\(vmlinux\).*kernelmagic vm build --force"):
        Bundle.load()


def test_load_missing_kbuild(home: Path) -> None:
    root = make_bundle(home)
    (root / "kbuild" / "usr" / "src" / f"linux-headers-{RELEASE}" / "Makefile").unlink()
    with pytest.raises(BundleIncomplete, match="Makefile"):
        Bundle.load()


def test_load_old_format(home: Path) -> None:
    make_bundle(home, format=BUNDLE_FORMAT - 1)
    with pytest.raises(BundleIncomplete, match=r"older bundle format.*--force"):
        Bundle.load()


# -- recipe --------------------------------------------------------------------------


def test_read_list(tmp_path: Path) -> None:
    path = tmp_path / "packages.txt"
    path.write_text("# the guest's tools\nbusybox-static\n\n  kmod   # modprobe\n#gone\n")
    assert read_list(path) == ["busybox-static", "kmod"]


def test_recipe_digest_tracks_recipe_files(tmp_path: Path) -> None:
    recipe = tmp_path / "vm"
    recipe.mkdir()
    (recipe / "init").write_text("#!/bin/sh\n")
    (recipe / "packages.txt").write_text("kmod\n")
    (recipe / "host-packages.sh").write_text("echo\n")
    (recipe / "README.md").write_text("notes\n")
    first = recipe_digest(recipe)
    assert first == recipe_digest(recipe)

    (recipe / "README.md").write_text("other notes\n")
    (recipe / "host-packages.sh").write_text("echo other\n")
    assert recipe_digest(recipe) == first  # host-side files do not change the guest

    (recipe / "init").write_text("#!/bin/sh\necho hi\n")
    second = recipe_digest(recipe)
    assert second != first
    (recipe / "modules.txt").write_text("dummy\n")
    assert recipe_digest(recipe) != second


def test_recipe_digest_of_shipped_recipe() -> None:
    assert len(recipe_digest()) == 64


# -- build_bundle --------------------------------------------------------------------


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    (recipe / "init").write_text("#!/bin/sh\n")
    (recipe / "packages.txt").write_text("kmod\n")
    return recipe


@pytest.fixture
def no_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any apt or dpkg call fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("apt must not run")

    for name in ("candidate_version", "download", "extract", "header_dependencies", "_run"):
        monkeypatch.setattr(debian, name, forbidden)
    monkeypatch.setattr(debian, "default_kernel_release", lambda: RELEASE)


def test_build_bundle_up_to_date(home: Path, recipe: Path, no_apt: None) -> None:
    root = make_bundle(home, current=False, recipe_sha256=recipe_digest(recipe))
    messages: list[str] = []
    bundle = build_bundle(recipe=recipe, progress=messages.append)
    assert bundle.root == root
    assert (home / "bundle" / "current").read_text() == RELEASE + "\n"
    assert messages and "up to date" in messages[0]
    assert build_bundle(RELEASE, home=home, recipe=recipe).root == root


def test_build_bundle_offline_uses_current(
    home: Path, recipe: Path, no_apt: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_bundle(home, recipe_sha256=recipe_digest(recipe))

    def offline() -> str:
        raise BundleBuildError("apt-cache failed")

    monkeypatch.setattr(debian, "default_kernel_release", offline)
    assert build_bundle(recipe=recipe).root == root


def test_build_bundle_stale_recipe_rebuilds(
    home: Path, recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bundle(home, recipe_sha256="0" * 64)
    asked: list[str] = []

    def candidate(package: str) -> None:
        asked.append(package)  # returning None stops the build before any download

    monkeypatch.setattr(debian, "candidate_version", candidate)
    monkeypatch.setattr(debian, "available_kernel_releases", lambda: [RELEASE])
    with pytest.raises(BundleBuildError):
        build_bundle(RELEASE, recipe=recipe)
    assert asked == [f"linux-image-{RELEASE}"]


def test_build_bundle_no_such_kernel(
    home: Path, recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(debian, "candidate_version", lambda package: None)
    monkeypatch.setattr(
        debian, "available_kernel_releases", lambda: ["6.1.0-57-amd64", "6.1.0-58-amd64"]
    )
    with pytest.raises(BundleBuildError) as info:
        build_bundle("6.1.0-12-amd64", recipe=recipe)
    message = str(info.value)
    assert "6.1.0-12-amd64" in message
    assert "6.1.0-57-amd64, 6.1.0-58-amd64" in message
    assert not (home / "bundle" / "current").exists()


def test_build_bundle_force_asks_apt(
    home: Path, recipe: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_bundle(home, recipe_sha256=recipe_digest(recipe))
    monkeypatch.setattr(debian, "candidate_version", lambda package: None)
    monkeypatch.setattr(debian, "available_kernel_releases", lambda: [])
    with pytest.raises(BundleBuildError, match="offers now: none"):
        build_bundle(RELEASE, force=True, recipe=recipe)


def test_build_bundle_without_recipe(home: Path, tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="recipe folder"):
        build_bundle(RELEASE, recipe=tmp_path / "nowhere")


def test_stage_kbuild_makes_include_relative(tmp_path: Path) -> None:
    pkgroot = tmp_path / "pkgroot"
    arch = pkgroot / "usr/src" / f"linux-headers-{RELEASE}"
    arch.mkdir(parents=True)
    (pkgroot / "usr/src/linux-headers-6.1.0-56-common").mkdir()
    (pkgroot / "usr/lib/linux-kbuild-6.1").mkdir(parents=True)
    (pkgroot / "usr/src/linux-config-6.1").mkdir()
    (arch / "Makefile").write_text("include /usr/src/linux-headers-6.1.0-56-common/Makefile\n")
    dest = tmp_path / "kbuild"
    staging.stage_kbuild(pkgroot, dest, RELEASE)
    assert (dest / "usr/src" / f"linux-headers-{RELEASE}" / "Makefile").read_text() == (
        "include ../linux-headers-6.1.0-56-common/Makefile\n"
    )
    assert (dest / "usr/lib/linux-kbuild-6.1").is_dir()
    assert not (dest / "usr/src/linux-config-6.1").exists()


# -- debian --------------------------------------------------------------------------


def test_find_deb_with_epoch(tmp_path: Path) -> None:
    (tmp_path / "busybox-static_1%3a1.35.0-4_amd64.deb").write_bytes(b"")
    (tmp_path / "busybox-static-extra_1%3a1.35.0-4_amd64.deb").write_bytes(b"")
    (tmp_path / "kmod_30+20221128-1_amd64.deb").write_bytes(b"")
    found = debian._find_deb(tmp_path, "busybox-static", "1:1.35.0-4")
    assert found == tmp_path / "busybox-static_1%3a1.35.0-4_amd64.deb"
    assert debian._find_deb(tmp_path, "busybox-static", "1:1.36.1-1") is None
    assert debian._find_deb(tmp_path, "kmod", "30+20221128-1") is not None
    assert debian._find_deb(tmp_path, "kmod", "30") is None


def _canned(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str]) -> list[list[str]]:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], timeout: float = 0) -> str:
        calls.append(argv)
        return outputs[" ".join(argv[:2])]

    monkeypatch.setattr(debian, "_run", fake_run)
    return calls


def test_default_kernel_release(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _canned(
        monkeypatch,
        {"apt-cache depends": "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n"},
    )
    assert debian.default_kernel_release() == "6.1.0-56-amd64"
    assert calls == [["apt-cache", "depends", "linux-image-amd64"]]


def test_default_kernel_release_skips_non_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(
        monkeypatch,
        {
            "apt-cache depends": "linux-image-amd64\n"
            "  Depends: linux-image-amd64-signed-template\n"
            " |Depends: linux-image-6.1.0-57-amd64\n"
            "  Depends: linux-image-6.1.0-56-amd64\n"
        },
    )
    assert debian.default_kernel_release() == "6.1.0-57-amd64"


def test_default_kernel_release_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(monkeypatch, {"apt-cache depends": ""})
    with pytest.raises(BundleBuildError, match="apt-get update"):
        debian.default_kernel_release()


def test_header_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(
        monkeypatch,
        {
            "apt-cache depends": "linux-headers-6.1.0-56-amd64\n"
            "  Depends: linux-headers-6.1.0-56-common\n"
            "  Depends: linux-kbuild-6.1\n"
            "  Depends: linux-compiler-gcc-12-x86\n"
            "  Depends: linux-kbuild-6.1\n"
            "  Recommends: libc6-dev\n"
        },
    )
    assert debian.header_dependencies(RELEASE) == [
        "linux-headers-6.1.0-56-common",
        "linux-kbuild-6.1",
    ]


def test_header_dependencies_none(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(monkeypatch, {"apt-cache depends": "linux-headers-x\n  Depends: gcc-12\n"})
    with pytest.raises(BundleBuildError, match="no dependencies"):
        debian.header_dependencies("x")


def test_candidate_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(
        monkeypatch,
        {"apt-cache policy": "kmod:\n  Installed: (none)\n  Candidate: 30+20221128-1\n"},
    )
    assert debian.candidate_version("kmod") == "30+20221128-1"
    _canned(monkeypatch, {"apt-cache policy": "x:\n  Installed: (none)\n  Candidate: (none)\n"})
    assert debian.candidate_version("x") is None
    _canned(monkeypatch, {"apt-cache policy": ""})
    assert debian.candidate_version("x") is None


def test_available_kernel_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    _canned(
        monkeypatch,
        {
            "apt-cache search": "linux-image-6.1.0-58-amd64 - Linux 6.1 for 64-bit PCs (signed)\n"
            "linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)\n"
            "linux-image-6.1.0-57-amd64-unsigned - Linux 6.1 for 64-bit PCs\n"
            "linux-image-6.1.0-57-amd64-dbg - Debug symbols\n"
        },
    )
    assert debian.available_kernel_releases() == ["6.1.0-57-amd64", "6.1.0-58-amd64"]


def test_run_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian.shutil, "which", lambda name: None)
    with pytest.raises(SetupError, match="apt-cache is not installed"):
        debian._run(["apt-cache", "policy", "kmod"])


def test_run_failure_carries_stderr() -> None:
    with pytest.raises(BundleBuildError, match=r"exit 3.*went wrong"):
        debian._run(["sh", "-c", "echo went wrong >&2; exit 3"])


# -- deadlines -----------------------------------------------------------------------


def test_a_tool_that_hangs_is_a_bundle_build_error() -> None:
    started = time.monotonic()
    with pytest.raises(BundleBuildError, match=r"sleep 30 timed out after 0 s"):
        tools.run_tool(["sleep", "30"], timeout=0.2)
    assert time.monotonic() - started < 5


def test_host_tool_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.shutil, "which", lambda name, path=None: None)
    with pytest.raises(SetupError, match="depmod is missing on the host"):
        tools.host_tool("depmod")


def test_each_apt_and_dpkg_call_has_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, object]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append((argv[0], kwargs["timeout"]))
        return subprocess.CompletedProcess(argv, 0, "Candidate: 1.0\n", "")

    monkeypatch.setattr(debian.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(debian, "run_tool", fake_run)
    assert debian.candidate_version("kmod") == "1.0"
    debian.extract(debian.Package("kmod", "1.0", tmp_path / "kmod.deb", ""), tmp_path / "root")
    with pytest.raises(BundleBuildError, match=r"did not produce kmod 1\.0"):
        debian.download(["kmod"], tmp_path / "debs")
    assert seen == [
        ("apt-cache", debian.APT_CACHE_TIMEOUT),
        ("dpkg-deb", debian.DPKG_TIMEOUT),
        ("apt-cache", debian.APT_CACHE_TIMEOUT),
        ("apt-get", debian.APT_TIMEOUT),
    ]
