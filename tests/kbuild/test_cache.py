# SPDX-License-Identifier: MIT
"""cache.py: the build key, stored results, damaged caches, and one make per key."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.cache import FORMAT_VERSION, build_key
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.result import BuildResult
from tests.kbuild.fake_make import COMPILER, HELLO, RELEASE, FakeMake

pytestmark = pytest.mark.usefixtures("fake_compiler")


def no_make(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("make must not run for a cached build")


# --------------------------------------------------------------------------- key


KEY_ARGS: dict[str, Any] = {
    "name": "hello",
    "sources": {"hello.c": "int a;\n", "defs.h": "#define X\n"},
    "cflags": "-DX",
    "extra_symvers": [b"0x1\tfoo\t/x/a\tEXPORT_SYMBOL\t\n"],
    "kernel_release": RELEASE,
    "compiler": COMPILER,
}


def key_with(**changes: Any) -> str:
    args = {**KEY_ARGS, **changes}
    return build_key(args.pop("name"), args.pop("sources"), **args)


def test_key_is_stable_and_independent_of_source_order() -> None:
    reordered = dict(reversed(list(KEY_ARGS["sources"].items())))
    assert key_with() == key_with() == key_with(sources=reordered)
    assert len(key_with()) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"name": "hello2"},
        {"sources": {"hello.c": "int a; \n", "defs.h": "#define X\n"}},
        {"sources": {"hello.c": "int a;\n", "defz.h": "#define X\n"}},
        {"sources": {"hello.c": "int a;\n"}},
        {"cflags": "-DY"},
        {"cflags": ""},
        {"extra_symvers": []},
        {"extra_symvers": [b"0x2\tfoo\t/x/a\tEXPORT_SYMBOL\t\n"]},
        {"kernel_release": "6.1.0-57-amd64"},
        {"compiler": "gcc-12 (Debian 12.2.0-15) 12.2.0"},
    ],
)
def test_any_input_changes_the_key(change: dict[str, Any]) -> None:
    assert key_with(**change) != key_with()


def test_fields_cannot_run_together() -> None:
    a = key_with(sources={"a.c": "bc"}, cflags="")
    b = key_with(sources={"a.c": "b"}, cflags="c")
    assert a != b


# --------------------------------------------------------------------------- cache


def write_cached(root: Path, key: str, name: str = "hello") -> Path:
    d = root / f"{name}-{key[:16]}"
    d.mkdir(parents=True)
    (d / f"{name}.ko").write_bytes(b"\x7fELF")
    diag = Diagnostic("hello.c", 6, 13, "warning", "unused variable 'x'", "compiler")
    (d / "result.json").write_text(
        json.dumps(
            {
                "format": FORMAT_VERSION,
                "name": name,
                "key": key,
                "kernel_release": RELEASE,
                "duration": 0.93,
                "diagnostics": [diag.__dict__],
                "log": "the log",
            }
        )
    )
    return d


def test_cached_result_is_returned_without_running_make(
    kbuild_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = build_key(
        "hello", HELLO, cflags="", extra_symvers=[], kernel_release=RELEASE, compiler=COMPILER
    )
    d = write_cached(tmp_path / "b", key)
    monkeypatch.setattr(subprocess, "Popen", no_make)
    monkeypatch.setattr(subprocess, "run", no_make)
    start = time.perf_counter()
    r = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    elapsed = time.perf_counter() - start
    assert r.cached and r.key == key
    assert (r.ko_path, r.build_dir) == (d / "hello.ko", d)
    assert (r.duration, r.log, r.kernel_release) == (0.93, "the log", RELEASE)
    assert [w.line for w in r.warnings] == [6] and r.errors == []
    assert repr(r) == "<BuildResult hello.ko for 6.1.0-56-amd64, cached, 1 warning>"
    assert elapsed < 1.0  # generous: the cache path must never approach a real build


def test_partial_build_dir_is_wiped_before_building(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    fake = make()
    first = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    (first.build_dir / "result.json").unlink()
    (first.build_dir / "leftover.o").write_text("junk")
    second = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    assert not second.cached and len(fake.calls) == 2
    assert not (second.build_dir / "leftover.o").exists()


def test_cached_result_without_ko_is_rebuilt(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    fake = make()
    first = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    first.ko_path.unlink()
    assert not build_module(
        "hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b"
    ).cached
    assert len(fake.calls) == 2


def test_damaged_result_json_is_rebuilt(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    make()
    first = build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    (first.build_dir / "result.json").write_text("{truncated")
    assert not build_module(
        "hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b"
    ).cached


def test_concurrent_builds_of_one_key_run_make_once(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    # flock excludes separate open() calls even inside one process, so threads show it.
    fake = make()
    fake.delay = 0.3
    results: list[BuildResult] = []

    def worker() -> None:
        results.append(
            build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
        )

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(fake.calls) == 1
    assert sorted(r.cached for r in results) == [False, True, True]
    assert (tmp_path / "b" / f"hello-{results[0].key[:16]}.lock").exists()
