# SPDX-License-Identifier: MIT
"""Grading builds: the allow-list of flags, and a compiler that sees only what it needs.

The unit tests need nothing; those marked ``integration`` build for real, in bubblewrap,
against the bundle's kbuild tree (no VM).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import BuildError, SetupError, UsageError
from kernelmagic.kbuild import sandbox
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.cache import build_key
from kernelmagic.kbuild.userprog import build_user_program

SECRET = "SECRET_TOKEN_abc123"


@pytest.fixture
def no_grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sandbox.GRADING_ENV, raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


@pytest.fixture
def grading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.GRADING_ENV, "1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"KERNELMAGIC_GRADING": "1"}, True),
        ({"KERNELMAGIC_GRADING": "0"}, False),
        ({"NBGRADER_EXECUTION": "autograde"}, True),
        ({"NBGRADER_EXECUTION": "validate"}, False),  # a student checking their own work
    ],
)
def test_grading_mode_comes_from_the_environment(
    env: dict[str, str], expected: bool, no_grading: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert sandbox.grading() is expected


@pytest.mark.parametrize(
    "flag",
    ["-DDEBUG", '-DGREETING="hi"', "-UNDEBUG", "-Wall", "-Wno-unused-variable",
     "-Werror=implicit-function-declaration", "-O0", "-O2", "-g", "-std=gnu11",
     "-ftrivial-auto-var-init=uninitialized", "-fno-inline", "-I$(src)/include", "-w"],
)  # fmt: skip
def test_lesson_flags_are_allowed(flag: str) -> None:
    sandbox.check_grading_cflags([flag])


@pytest.mark.parametrize(
    "flag",
    ["-fplugin=/tmp/evil.so", "-fplugin-arg-evil-x=1", "-B/tmp", "-wrapper", "gdb,--args",
     "-specs=/tmp/x.specs", "@/etc/passwd", "-Wl,-T,/etc/passwd", "-Wp,-include,/etc/shadow",
     "-Wa,--defsym,x=1", "-include", "-I/etc", "-iquote/root", "-o", "/tmp/out",
     "--sysroot=/", "-fprofile-use=/root/x", "-x"],
)  # fmt: skip
def test_flags_that_run_or_read_other_files_are_refused(flag: str) -> None:
    with pytest.raises(UsageError, match="not allowed while grading"):
        sandbox.check_grading_cflags([flag])


def test_the_tree_roots_follow_debians_links_and_makefile(tmp_path: Path) -> None:
    kbuild = tmp_path / "usr" / "lib" / "linux-kbuild-6.1"
    (kbuild / "scripts").mkdir(parents=True)
    common = tmp_path / "usr" / "src" / "linux-headers-6.1.0-1-common"
    common.mkdir(parents=True)
    (common / "scripts").symlink_to("../../lib/linux-kbuild-6.1/scripts")
    arch = tmp_path / "usr" / "src" / "linux-headers-6.1.0-1-amd64"
    arch.mkdir()
    (arch / "Makefile").write_text("include ../linux-headers-6.1.0-1-common/Makefile\n")
    (arch / "scripts").symlink_to("../../lib/linux-kbuild-6.1/scripts")
    assert sandbox.tree_roots(arch) == sorted([arch, common, kbuild / "scripts"])


def test_the_sandbox_binds_only_the_toolchain_the_tree_and_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda cmd: f"/usr/bin/{cmd}")
    build, tree = tmp_path / "build", tmp_path / "tree"
    argv, env = sandbox.sandboxed(["make", "-C", str(tree)], writable=build, read_only=[tree])
    assert argv[0] == "/usr/bin/bwrap" and argv[-3:] == ["make", "-C", str(tree)]
    assert {"--unshare-all", "--die-with-parent", "--new-session", "--clearenv"} <= set(argv)
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    assert ("--ro-bind", "/usr") in pairs and ("--ro-bind", str(tree)) in pairs
    assert ("--bind", str(build)) in pairs and ("--chdir", str(build)) in pairs
    bound = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    assert not any(p in ("/", "/home", "/root", "/etc", "/tmp") for p in bound), bound
    assert env["PATH"] == "/usr/bin:/bin" and "HOME" in env and len(env) <= 6


def test_without_bubblewrap_grading_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda cmd: None)
    with pytest.raises(SetupError, match="apt-get install bubblewrap"):
        sandbox.sandboxed(["make"], writable=Path("/tmp"))


def test_a_grading_build_never_reuses_an_ordinary_one() -> None:
    common: dict[str, Any] = {"kernel_release": "6.1.0-1-amd64", "compiler": "gcc-12 12.2.0"}
    plain = build_key("m", {"m.c": "x"}, **common)
    assert plain == build_key("m", {"m.c": "x"}, sandboxed=False, **common)
    assert plain != build_key("m", {"m.c": "x"}, sandboxed=True, **common)


# -- for real, in bubblewrap ---------------------------------------------------------------


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A host file a submission would like to read."""
    path = tmp_path / "host-secret.txt"
    path.write_text(f"{SECRET}\n")
    return path


@pytest.fixture
def evil_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A shared object that writes a marker file as soon as anything loads it."""
    marker = tmp_path / "plugin-ran"
    source = tmp_path / "evil.c"
    source.write_text(
        "#include <stdio.h>\n"
        "__attribute__((constructor)) static void ran(void)\n"
        f'{{ FILE *f = fopen("{marker}", "w"); if (f) fclose(f); }}\n'
        "int plugin_is_GPL_compatible;\n"
    )
    plugin = tmp_path / "evil.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(source)], check=True)
    return plugin, marker


MODULE = '#include <linux/module.h>\n{extra}\nMODULE_LICENSE("GPL");\n'


@pytest.mark.integration
def test_a_grading_build_cannot_include_a_host_file(
    bundle: Any, tmp_path: Path, secret: Path, grading: None
) -> None:
    source = MODULE.format(extra=f'#include "{secret}"')
    with pytest.raises(BuildError) as failed:
        build_module("peek", {"peek.c": source}, builds_root=tmp_path / "builds")
    assert "No such file or directory" in str(failed.value)
    assert SECRET not in failed.value.log and SECRET not in str(failed.value)


@pytest.mark.integration
def test_a_grading_build_still_builds_a_module(bundle: Any, tmp_path: Path, grading: None) -> None:
    built = build_module("fine", {"fine.c": MODULE.format(extra="")},
                         cflags="-DDEBUG -O2", builds_root=tmp_path / "builds")  # fmt: skip
    assert built.ko_path.is_file() and not built.cached


@pytest.mark.integration
def test_a_grading_build_refuses_a_plugin_and_never_loads_it(
    bundle: Any, tmp_path: Path, evil_plugin: tuple[Path, Path], grading: None
) -> None:
    plugin, marker = evil_plugin
    with pytest.raises(UsageError, match="-fplugin"):
        build_module("plug", {"plug.c": MODULE.format(extra="")},
                     cflags=f"-fplugin={plugin}", builds_root=tmp_path / "builds")  # fmt: skip
    assert not marker.exists()


@pytest.mark.integration
def test_a_grading_user_program_cannot_include_a_host_file(
    tmp_path: Path, secret: Path, grading: None
) -> None:
    source = f'#include "{secret}"\nint main(void) {{ return 0; }}\n'
    with pytest.raises(BuildError) as failed:
        build_user_program("peek", source, builds_root=tmp_path / "builds")
    assert SECRET not in failed.value.log


@pytest.mark.integration
def test_a_grading_user_program_builds_and_runs(tmp_path: Path, grading: None) -> None:
    program = build_user_program(
        "hi", '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n',
        builds_root=tmp_path / "builds",
    )  # fmt: skip
    run = subprocess.run([str(program.path)], capture_output=True, text=True, check=True)
    assert run.stdout == "hi\n"
    assert os.access(program.path, os.X_OK)
