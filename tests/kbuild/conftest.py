# SPDX-License-Identifier: MIT
"""Fixtures for the builder's unit tests: a fake kbuild tree, compiler and make."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.kbuild import toolchain
from tests.kbuild.fake_make import COMPILER, FakeMake, fake_tree


@pytest.fixture
def kbuild_dir(tmp_path: Path) -> Path:
    """A fake Debian kbuild tree (the real one is the bundle's, in the integration tests)."""
    return fake_tree(tmp_path)


@pytest.fixture
def fake_compiler(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No gcc-12 needed: record which compiler build_module() asks about."""
    asked: list[str] = []

    def identity(cc: str) -> str:
        asked.append(cc)
        return COMPILER

    monkeypatch.setattr(toolchain, "compiler_identity", identity)
    return asked


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeMake]:
    """Install a ``FakeMake`` as ``subprocess.Popen``; keyword arguments configure it."""
    monkeypatch.setattr(shutil, "which", lambda cmd: f"/usr/bin/{cmd}")

    def install(**kwargs: Any) -> FakeMake:
        fake = FakeMake(**kwargs)
        monkeypatch.setattr(subprocess, "Popen", fake)
        return fake

    return install
