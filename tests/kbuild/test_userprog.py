# SPDX-License-Identifier: MIT
"""``%%userprog``'s builder, with the host's real gcc (no VM)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, UsageError
from kernelmagic.kbuild.userprog import bin_dir, build_user_program

ECHO = """#include <stdio.h>
int main(int argc, char **argv)
{
\tfor (int i = 1; i < argc; i++)
\t\tprintf("%s\\n", argv[i]);
\treturn 0;
}
"""


def test_a_static_program_is_built_and_published_by_name(tmp_path: Path) -> None:
    program = build_user_program("kmt_echo", ECHO, builds_root=tmp_path)
    assert not program.cached and program.diagnostics == []
    published = bin_dir(tmp_path) / "kmt_echo"
    assert published.read_bytes() == program.path.read_bytes()
    out = subprocess.run([published, "a", "b"], capture_output=True, text=True, check=True)
    assert out.stdout == "a\nb\n"
    file_type = subprocess.run(["file", "-b", published], capture_output=True, text=True)
    assert "statically linked" in file_type.stdout or file_type.returncode != 0


def test_the_same_source_comes_from_the_cache_and_is_published_again(tmp_path: Path) -> None:
    first = build_user_program("kmt_echo", ECHO, builds_root=tmp_path)
    (bin_dir(tmp_path) / "kmt_echo").write_text("another notebook's program")
    again = build_user_program("kmt_echo", ECHO, builds_root=tmp_path)
    assert again.cached and again.path == first.path
    assert (bin_dir(tmp_path) / "kmt_echo").read_bytes() == first.path.read_bytes()
    other = build_user_program("kmt_echo", ECHO, cflags="-DX=1", builds_root=tmp_path)
    assert other.path != first.path


def test_warnings_are_kept_with_their_line(tmp_path: Path) -> None:
    source = "int main(void)\n{\n\tint unused;\n\treturn 0;\n}\n"
    program = build_user_program("kmt_warn", source, builds_root=tmp_path)
    assert [(w.file, w.line) for w in program.warnings] == [("kmt_warn.c", 3)]
    cached = build_user_program("kmt_warn", source, builds_root=tmp_path)
    assert cached.cached and [w.line for w in cached.warnings] == [3]


def test_an_error_names_its_line_and_publishes_nothing(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="kmt_bad did not build: 1 error") as info:
        build_user_program("kmt_bad", "int main(void)\n{\n\treturn x;\n}\n", builds_root=tmp_path)
    [error] = info.value.diagnostics
    assert (error.file, error.line, error.severity) == ("kmt_bad.c", 3, "error")
    assert not (bin_dir(tmp_path) / "kmt_bad").exists()


@pytest.mark.parametrize("flags", ["-fplugin=/tmp/x.so", "-B/tmp", "@/etc/passwd", "-o /tmp/x"])
def test_flags_that_reach_other_files_are_refused(tmp_path: Path, flags: str) -> None:
    with pytest.raises(UsageError, match="not allowed"):
        build_user_program("kmt_echo", ECHO, cflags=flags, builds_root=tmp_path)


def test_a_bad_name_or_unclosed_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        build_user_program("../evil", ECHO, builds_root=tmp_path)
    with pytest.raises(UsageError, match="--cflags"):
        build_user_program("kmt_echo", ECHO, cflags='-DX="a', builds_root=tmp_path)
