# SPDX-License-Identifier: MIT
"""build.py without a kernel tree: validation, generated files, cache key, cache, locking.

make is replaced by a fake ``subprocess.Popen`` that records its argv and environment and
"builds" by writing the .ko, so everything here runs in milliseconds and on any host.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import BuildError, SetupError
from kernelmagic.kbuild import builder as kbuild
from kernelmagic.kbuild.builder import (
    FORMAT_VERSION,
    build_key,
    build_module,
    export_sources,
    kbuild_text,
    makefile_text,
    module_name_from_path,
    read_kernel_release,
)
from kernelmagic.kbuild.diagnostics import Diagnostic

RELEASE = "6.1.0-56-amd64"
COMPILER = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
HELLO = {"hello.c": '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'}

SYNTAX_LOG = """\
make: Entering directory '/kbuild'
  CC [M]  {d}/hello.o
{d}/hello.c: In function 'hello_init':
{d}/hello.c:7:9: error: expected ';' before 'return'
    7 |         return 0;
      |         ^~~~~~
make[1]: *** [/common/scripts/Makefile.build:255: {d}/hello.o] Error 1
make: *** [/common/Makefile:2065: {d}] Error 2
make: Leaving directory '/kbuild'
"""

OK_LOG = """\
make: Entering directory '/kbuild'
  CC [M]  {d}/hello.o
{d}/hello.c:6:13: warning: unused variable 'x' [-Wunused-variable]
  LD [M]  {d}/hello.ko
Skipping BTF generation for {d}/hello.ko due to unavailability of vmlinux
make: Leaving directory '/kbuild'
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def kbuild_dir(tmp_path: Path) -> Path:
    """The few files of a Debian kbuild tree that build.py reads itself."""
    tree = tmp_path / "linux-headers"
    (tree / "include" / "generated").mkdir(parents=True)
    (tree / "include" / "config").mkdir(parents=True)
    (tree / "Makefile").write_text("include ../common/Makefile\n")
    (tree / "include" / "generated" / "utsrelease.h").write_text(
        f'#define UTS_RELEASE "{RELEASE}"\n'
    )
    (tree / "include" / "config" / "kernel.release").write_text("6.1.192\n")
    (tree / ".kernelvariables").write_text(
        "override ARCH = x86\n"
        f"override KERNELRELEASE = {RELEASE}\n"
        "CCACHE = ccache\n"
        "CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\n"
    )
    return tree


@pytest.fixture(autouse=True)
def fake_compiler(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No gcc-12 needed: record which compiler build_module() asks about."""
    asked: list[str] = []

    def identity(cc: str) -> str:
        asked.append(cc)
        return COMPILER

    monkeypatch.setattr(kbuild, "_compiler_identity", identity)
    return asked


class FakeMake:
    """Stands in for ``subprocess.Popen`` of make: records calls, writes the .ko, or fails."""

    def __init__(self, log: str = OK_LOG, status: int = 0, make_ko: bool = True) -> None:
        self.log, self.status, self.make_ko = log, status, make_ko
        self.calls: list[dict[str, Any]] = []
        self.delay = 0.0
        self.pid = 0
        self.returncode: int | None = None

    def __call__(self, argv: list[str], **kwargs: Any) -> FakeMake:
        self.calls.append({"argv": argv, **kwargs})
        self._build_dir = Path(next(a for a in argv if a.startswith("M="))[2:])
        return self

    def __enter__(self) -> FakeMake:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        time.sleep(self.delay)
        name = self._build_dir.name.rsplit("-", 1)[0]
        if self.status == 0 and self.make_ko:
            (self._build_dir / f"{name}.ko").write_bytes(b"\x7fELF fake")
        self.returncode = self.status
        return self.log.format(d=self._build_dir), None


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeMake]:
    monkeypatch.setattr(kbuild.shutil, "which", lambda cmd: f"/usr/bin/{cmd}")

    def install(**kwargs: Any) -> FakeMake:
        fake = FakeMake(**kwargs)
        monkeypatch.setattr(kbuild.subprocess, "Popen", fake)
        return fake

    return install


def no_make(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("make must not run for a cached build")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("path", "name"),
    [("hello-world.c", "hello_world"), ("/x/y/my-mod.c", "my_mod"), (Path("plain.c"), "plain")],
)
def test_module_name_from_path(path: str | Path, name: str) -> None:
    assert module_name_from_path(path) == name


@pytest.mark.parametrize("name", ["hello-world", "1hello", "", "héllo", "a b", "x" * 56, "a.b"])
def test_bad_module_names_are_value_errors(name: str, kbuild_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="module name"):
        build_module(name, HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


@pytest.mark.parametrize(
    "filename",
    ["../hello.c", "sub/hello.c", "hello.txt", "Kbuild", "Makefile", "hello.mod.c", ".c", "a b.c"],
)
def test_bad_file_names_are_value_errors(filename: str, kbuild_dir: Path, tmp_path: Path) -> None:
    sources = {**HELLO, filename: "int x;\n"}
    with pytest.raises(ValueError, match="not an accepted source file name"):
        build_module("hello", sources, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_module_c_file_beside_other_c_files_asks_for_a_rename() -> None:
    with pytest.raises(ValueError, match=r"rename hello\.c \(for example to hello_main\.c\)"):
        kbuild_text("hello", {"hello.c": "", "util.c": ""})


def test_headers_alone_are_not_a_module() -> None:
    with pytest.raises(ValueError, match=r"at least one \.c file"):
        kbuild_text("hello", {"defs.h": ""})
    with pytest.raises(ValueError, match="no source files"):
        kbuild_text("hello", {})


@pytest.mark.parametrize(
    "cflags", ["$(shell id)", "-DX=$(HOME)", "-O2\nobj-m += evil.o", '-DGREETING="hi']
)
def test_cflags_that_make_would_expand_on_the_host_are_refused(cflags: str) -> None:
    with pytest.raises(ValueError, match="cflags"):
        kbuild_text("hello", HELLO, cflags)


# --------------------------------------------------------------------------- generated files


def test_kbuild_single_file() -> None:
    text = kbuild_text("hello", HELLO)
    assert "obj-m := hello.o\n" in text
    assert "hello-y" not in text
    assert "ccflags-y" not in text


def test_kbuild_composite_object_and_cflags() -> None:
    text = kbuild_text(
        "hello", {"util.c": "", "main.c": "", "defs.h": ""}, "-DDEBUG -I$(src)/include"
    )
    assert "obj-m := hello.o\n" in text
    assert "hello-y := main.o util.o\n" in text
    assert "ccflags-y := -DDEBUG -I$(src)/include\n" in text


@pytest.mark.parametrize(
    ("cflags", "words"),
    [
        ('-DGREETING="hi"', ['-DGREETING="hi"']),
        ('-DMSG="hello world"  -O1 ', ['-DMSG="hello world"', "-O1"]),
        ("-DCH='a' -DEMPTY=\"\"", ["-DCH='a'", '-DEMPTY=""']),
    ],
)
def test_cflags_reach_the_compiler_as_written(cflags: str, words: list[str]) -> None:
    """Quotes in a -D value stay (a C string); the Kbuild line quotes them for make's shell."""
    line = kbuild_text("hello", HELLO, cflags).splitlines()[-1]
    assert line.startswith("ccflags-y := ")
    echoed = subprocess.run(
        ["sh", "-c", "printf '%s\\n' " + line.removeprefix("ccflags-y := ")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert echoed.splitlines() == words


def test_kbuild_single_file_with_another_name_is_composite() -> None:
    assert "hello-y := greet.o\n" in kbuild_text("hello", {"greet.c": ""})


def test_makefile_is_standalone() -> None:
    text = makefile_text()
    assert "KDIR ?= /lib/modules/$(shell uname -r)/build\n" in text
    assert "all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n" in text
    assert "clean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n" in text


def test_export_sources_writes_sources_kbuild_and_makefile(tmp_path: Path) -> None:
    sources = {"main.c": "int a;\n", "util.c": "int b;\n", "defs.h": "#define X 1\n"}
    written = export_sources("hello", sources, tmp_path / "out", cflags="-DX")
    assert [p.name for p in written] == ["defs.h", "main.c", "util.c", "Kbuild", "Makefile"]
    assert (tmp_path / "out" / "util.c").read_text() == "int b;\n"
    assert (tmp_path / "out" / "Kbuild").read_text() == kbuild_text("hello", sources, "-DX")
    assert (tmp_path / "out" / "Makefile").read_text() == makefile_text()


# --------------------------------------------------------------------------- tree facts


def test_kernel_release_prefers_utsrelease_over_debian_kernel_release(kbuild_dir: Path) -> None:
    # Debian's include/config/kernel.release says "6.1.192", which is not `uname -r`.
    assert read_kernel_release(kbuild_dir) == RELEASE
    (kbuild_dir / "include" / "generated" / "utsrelease.h").unlink()
    assert read_kernel_release(kbuild_dir) == RELEASE  # from .kernelvariables
    (kbuild_dir / ".kernelvariables").unlink()
    assert read_kernel_release(kbuild_dir) == "6.1.192"
    (kbuild_dir / "include" / "config" / "kernel.release").unlink()
    with pytest.raises(SetupError):
        read_kernel_release(kbuild_dir)


def test_compiler_comes_from_kernelvariables(kbuild_dir: Path) -> None:
    assert kbuild._compiler_command(kbuild_dir) == "gcc-12"
    (kbuild_dir / ".kernelvariables").unlink()
    assert kbuild._compiler_command(kbuild_dir) == "gcc"


def test_missing_compiler_is_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real _compiler_identity
    with pytest.raises(SetupError, match="apt-get install make gcc-12"):
        kbuild._compiler_identity("no-such-compiler-kernelmagic")


def test_missing_make_is_a_setup_error(
    kbuild_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kbuild.shutil, "which", lambda cmd: None)
    with pytest.raises(SetupError, match="make setup"):
        build_module("hello", HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


def test_missing_tree_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no kernel build tree"):
        build_module("hello", HELLO, kbuild_dir=tmp_path / "nothing", builds_root=tmp_path / "b")


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


def test_concurrent_builds_of_one_key_run_make_once(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake]
) -> None:
    # flock excludes separate open() calls even inside one process, so threads show it.
    fake = make()
    fake.delay = 0.3
    results: list[kbuild.BuildResult] = []

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


def test_timeout_stops_make_and_its_children(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("needs GNU make")
    tree = tmp_path / "tree"
    tree.mkdir()
    # A recipe whose child outlives a killed make unless the whole group is stopped.
    (tree / "Makefile").write_text("modules:\n\t@echo started; sleep 30; echo done\n")
    start = time.monotonic()
    with pytest.raises(BuildError, match=r"^build timed out after 0.5 s$") as info:
        kbuild._run_make(tree, tmp_path, [], timeout=0.5)
    assert time.monotonic() - start < 10
    assert "started" in info.value.log


def test_bundle_is_used_when_no_tree_is_given(
    kbuild_dir: Path, tmp_path: Path, make: Callable[..., FakeMake], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

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
