# SPDX-License-Identifier: MIT
"""builder.py without a kernel tree: the make command, failures, deadlines, the bundle.

make is replaced by a fake ``subprocess.Popen`` (``fake_make.py``) that records its argv
and environment and "builds" by writing the .ko, so everything here runs in milliseconds
and on any host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, SetupError
from kernelmagic.kbuild import builder
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.tree import kbuild_text, makefile_text
from tests.kbuild.fake_make import HELLO, RELEASE, SYNTAX_LOG, FakeMake

pytestmark = pytest.mark.usefixtures("fake_compiler")


def test_fresh_build_runs_make_with_c_locale_and_scrubbed_env(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAKEFLAGS", "-j8 --jobserver-auth=3,4")
    monkeypatch.setenv("KBUILD_OUTPUT", "/elsewhere")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")
    fake = make()
    r = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    (call,) = fake.calls
    assert call["argv"] == [
        "make", "-C", str(kbuild_dir), f"M={r.build_dir}", "modules",
        f"KCFLAGS=-fmacro-prefix-map={r.build_dir}/=",
    ]  # fmt: skip
    assert call["stderr"] is subprocess.STDOUT and call["start_new_session"] is True
    env = call["env"]
    assert env["LC_ALL"] == env["LANG"] == "C"
    assert "MAKEFLAGS" not in env and "KBUILD_OUTPUT" not in env
    assert not r.cached and r.ko_path.is_file()
    assert r.kernel_release == RELEASE
    assert r.build_dir.parent == (tmp_path / "b").resolve()
    assert r.build_dir.name == f"hello-{r.key[:16]}"
    assert [str(w) for w in r.warnings] == [
        "hello.c:6:13: warning: unused variable 'x' [-Wunused-variable]"
    ]
    assert (r.build_dir / "Kbuild").read_text() == kbuild_text("hello", HELLO)
    assert (r.build_dir / "Makefile").read_text() == makefile_text()
    stored = json.loads((r.build_dir / "result.json").read_text())
    assert stored["kernel_release"] == RELEASE and stored["log"] == r.log
    assert not list(r.build_dir.glob(".*.tmp"))

    again = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    assert again.cached and again.diagnostics == r.diagnostics and len(fake.calls) == 1


def test_compiler_is_asked_about_once_per_build(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake], fake_compiler: list[str]
) -> None:
    make()
    build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    assert fake_compiler == ["gcc-12"]


def test_missing_make_is_a_setup_error(
    kbuild_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda cmd: None)
    with pytest.raises(SetupError, match="make setup"):
        build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


def test_missing_tree_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no kernel build tree"):
        build_module("hello", HELLO, kbuild_dir=tmp_path / "nothing", builds_root=tmp_path / "b")


def test_failed_build_raises_first_error_and_is_not_cached(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    fake = make(log=SYNTAX_LOG, status=2)
    for _ in range(2):
        with pytest.raises(BuildError) as info:
            build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
        err = info.value
        assert str(err) == "hello.c:7:9: error: expected ';' before 'return'"
        assert [(d.file, d.line) for d in err.diagnostics] == [("hello.c", 7)]
        assert "Makefile.build:255" in err.log
    assert len(fake.calls) == 2
    assert not list((tmp_path / "b").glob("*/result.json"))


def test_failure_without_diagnostics_names_the_last_make_line(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    make(
        log="make: Entering directory '/kbuild'\nsomething odd\nmake: Leaving directory\n", status=2
    )
    with pytest.raises(BuildError, match=r"^build failed: something odd$"):
        build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


def test_success_without_ko_is_an_error(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    make(make_ko=False)
    with pytest.raises(BuildError, match=r"produced no hello\.ko"):
        build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


def test_extra_symbols_accept_file_or_dir_and_change_the_key(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    fake = make()
    exporter = tmp_path / "exporter"
    exporter.mkdir()
    symvers = exporter / "Module.symvers"
    symvers.write_text("0x09c4de7b\tlearner_helper\t/x/exporter\tEXPORT_SYMBOL_GPL\t\n")
    plain = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    by_dir = build_module(
        "hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b", extra_symbols=[exporter]
    )
    by_file = build_module(
        "hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b", extra_symbols=[symvers]
    )
    assert plain.key != by_dir.key == by_file.key and by_file.cached
    assert fake.calls[1]["argv"][-1] == f"KBUILD_EXTRA_SYMBOLS={symvers}"
    symvers.write_text("0x11111111\tlearner_helper\t/x/exporter\tEXPORT_SYMBOL_GPL\t\n")
    changed = build_module(
        "hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b", extra_symbols=[exporter]
    )
    assert changed.key != by_dir.key
    with pytest.raises(ValueError, match=r"no Module\.symvers"):
        build_module(
            "hello",
            HELLO,
            kbuild_dir=kbuild_dir,
            builds_root=tmp_path / "b",
            extra_symbols=[tmp_path / "nope"],
        )


def test_builds_root_with_a_space_is_a_setup_error(kbuild_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="KERNELMAGIC_HOME"):
        build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "my builds")


def test_timeout_stops_make_and_its_children(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs GNU make")
    tree = tmp_path / "tree"
    tree.mkdir()
    # A recipe whose child outlives a killed make unless the whole group is stopped.
    (tree / "Makefile").write_text("modules:\n\t@echo started; sleep 30; echo done\n")
    start = time.monotonic()
    with pytest.raises(BuildError, match=r"^build timed out after 0.5 s$") as info:
        builder._run_make(tree, tmp_path, [], timeout=0.5)
    assert time.monotonic() - start < 10
    assert "started" in info.value.log


def test_bundle_is_used_when_no_tree_is_given(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake], monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = kbuild_dir

    class FakeBundle:
        kbuild_dir = tree
        kernel_release = "6.1.0-99-amd64"

        @classmethod
        def load(cls) -> FakeBundle:
            return cls()

    monkeypatch.setitem(
        sys.modules, "kernelmagic.machine.bundle", types.SimpleNamespace(Bundle=FakeBundle)
    )
    make()
    r = build_module("hello", HELLO, builds_root=tmp_path / "b")
    assert r.kernel_release == "6.1.0-99-amd64"


def test_build_result_is_importable_from_the_package() -> None:
    import kernelmagic.kbuild as kbuild

    assert kbuild.build_module is build_module
    assert kbuild.BuildResult is builder.BuildResult
