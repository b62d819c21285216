# SPDX-License-Identifier: MIT
"""tree.py: what may go into a build folder, and the Kbuild and Makefile written there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.tree import (
    export_sources,
    kbuild_text,
    makefile_text,
    module_name_from_path,
)
from tests.kbuild.fake_make import HELLO

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("path", "name"),
    [("hello-world.c", "hello_world"), ("/x/y/my-mod.c", "my_mod"), (Path("plain.c"), "plain")],
)
def test_module_name_from_path(path: str | Path, name: str) -> None:
    assert module_name_from_path(path) == name


@pytest.mark.usefixtures("fake_compiler")
@pytest.mark.parametrize("name", ["hello-world", "1hello", "", "héllo", "a b", "x" * 56, "a.b"])
def test_bad_module_names_are_value_errors(name: str, kbuild_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="module name"):
        build_module(name, HELLO, kbuild_dir=kbuild_dir, builds_root=tmp_path / "b")


@pytest.mark.usefixtures("fake_compiler")
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
        capture_output=True, text=True, check=True, timeout=30,
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
