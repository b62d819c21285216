# SPDX-License-Identifier: MIT
"""Bundles of newer Debian kernels (batch runs with ``--kernel-version``): Debian's 6.12
compresses its image with zstd, and builds in modules that 6.1 shipped apart."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from kernelmagic.machine.staging import _stage_modules, extract_vmlinux

ELF = b"\x7fELF" + bytes(range(256)) * 64


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd is not installed")
def test_a_zstd_payload_is_found_after_the_decompressor(tmp_path: Path) -> None:
    payload = subprocess.run(["zstd", "-c", "-q"], input=ELF, capture_output=True,
                             check=True).stdout  # fmt: skip
    vmlinuz = tmp_path / "vmlinuz"
    # a setup header, a false start (the magic bytes, then nothing zstd can read), the
    # payload, and the bzImage's trailer
    noise = random.Random(1).randbytes(3000)
    vmlinuz.write_bytes(noise + b"\x28\xb5\x2f\xfd" + b"\0" * 8 + payload + noise[:100])
    extract_vmlinux(vmlinuz, tmp_path / "vmlinux")
    assert (tmp_path / "vmlinux").read_bytes() == ELF


def test_a_module_the_kernel_builds_in_is_not_needed_as_a_file(tmp_path: Path) -> None:
    release = "6.12.0-test-amd64"
    source = tmp_path / "pkg" / "lib" / "modules" / release
    (source / "kernel").mkdir(parents=True)
    (source / "modules.builtin").write_text(
        "kernel/fs/fuse/fuse.ko\nkernel/drivers/virtio/virtio.ko\n"
    )
    root = tmp_path / "root"
    assert _stage_modules(tmp_path / "pkg", root, release, ["fuse", "virtio"]) == []
    assert (root / "lib" / "modules" / release / "modules.builtin").is_file()
