# SPDX-License-Identifier: MIT
"""toolchain.py: which kernel a kbuild tree builds for, and with which compiler."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import SetupError
from kernelmagic.kbuild import toolchain
from tests.kbuild.fake_make import RELEASE


def test_kernel_release_prefers_utsrelease_over_debian_kernel_release(kbuild_dir: Path) -> None:
    # Debian's include/config/kernel.release says "6.1.192", which is not `uname -r`.
    assert toolchain.read_kernel_release(kbuild_dir) == RELEASE
    (kbuild_dir / "include" / "generated" / "utsrelease.h").unlink()
    assert toolchain.read_kernel_release(kbuild_dir) == RELEASE  # from .kernelvariables
    (kbuild_dir / ".kernelvariables").unlink()
    assert toolchain.read_kernel_release(kbuild_dir) == "6.1.192"
    (kbuild_dir / "include" / "config" / "kernel.release").unlink()
    with pytest.raises(SetupError):
        toolchain.read_kernel_release(kbuild_dir)


def test_compiler_comes_from_kernelvariables(kbuild_dir: Path) -> None:
    assert toolchain.compiler_command(kbuild_dir) == "gcc-12"
    (kbuild_dir / ".kernelvariables").unlink()
    assert toolchain.compiler_command(kbuild_dir) == "gcc"


def test_missing_compiler_is_a_setup_error() -> None:
    with pytest.raises(SetupError, match="apt-get install make gcc-12"):
        toolchain.compiler_identity("no-such-compiler-kernelmagic")


def test_make_env_scrubs_what_steers_kbuild(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKEFLAGS", "-j8")
    monkeypatch.setenv("KBUILD_OUTPUT", "/elsewhere")
    monkeypatch.setenv("LANGUAGE", "de")
    env = toolchain.make_env()
    assert "MAKEFLAGS" not in env and "KBUILD_OUTPUT" not in env and "LANGUAGE" not in env
    assert env["LC_ALL"] == env["LANG"] == "C"
