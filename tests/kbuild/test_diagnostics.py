# SPDX-License-Identifier: MIT
"""The diagnostics parser against real kbuild output.

The logs in ``tests/data/kbuild/`` were captured from ``build_module()`` against Debian's
linux-headers-6.1.0-56-amd64 with gcc 12 (builds_root ``/tmp/km/builds``); the few
inline ones marked "synthetic" follow the documented format of a tool we could not make
say that message here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.kbuild.diagnostics import Diagnostic, parse_diagnostics
from kernelmagic.kbuild.hints import hint
from kernelmagic.kbuild.sources import CellSource

ROOT = "/tmp/km/builds"
DATA = Path(__file__).resolve().parents[1] / "data" / "kbuild"


def captured(name: str) -> str:
    """A kbuild log captured from a real build (see ``tests/data/kbuild/README.md``)."""
    return (DATA / f"{name}.log").read_text()


SYNTAX = captured("syntax")
UNDECL = captured("undecl")
UNUSED = captured("unused")
NOHDR = captured("nohdr")
GPLONLY = captured("gplonly")
UNDEFSYM = captured("undefsym")
NOLIC = captured("nolic")
NS = captured("ns")
SECMIS = captured("secmis")
DUPDEF = captured("dupdef")
IMPLICIT = captured("implicit")
BAD_CFLAGS = captured("bad_cflags")
NO_RULE = captured("no_rule")
NO_COMPILER = captured("no_compiler")

# Synthetic: GNU ld's format for a final link, which kbuild's `ld -r` never performs.
LD_UNDEFINED = r"""/usr/bin/ld: /tmp/km/builds/x-1/x.o: in function `x_init':
/tmp/km/builds/x-1/x.c:(.text+0x5): undefined reference to `foo'
/usr/bin/ld: warning: creating DT_TEXTREL in a PIE
"""


def bdir(name: str, key16: str) -> str:
    return f"{ROOT}/{name}-{key16}"


def test_syntax_error_names_file_line_and_column() -> None:
    diags = parse_diagnostics(SYNTAX, bdir("syntax", "20a966eeed852658"))
    assert diags == [
        Diagnostic("syntax.c", 7, 9, "error", "expected ';' before 'return'", "compiler"),
        Diagnostic(
            "syntax.c",
            8,
            1,
            "error",
            "no return statement in function returning non-void [-Werror=return-type]",
            "compiler",
        ),
    ]
    assert str(diags[0]) == "syntax.c:7:9: error: expected ';' before 'return'"


def test_make_lines_are_dropped_when_the_compiler_explains_the_failure() -> None:
    diags = parse_diagnostics(SYNTAX, bdir("syntax", "20a966eeed852658"))
    assert all(d.origin == "compiler" for d in diags)


def test_undeclared_keeps_learner_notes_drops_header_notes_and_duplicates() -> None:
    diags = parse_diagnostics(UNDECL, bdir("undecl", "7023cdac8b5c4aa7"))
    assert [(d.file, d.line, d.column, d.severity) for d in diags] == [
        ("undecl.c", 6, 25, "error"),
        ("undecl.c", 6, 9, "note"),
        ("undecl.c", 6, 25, "note"),
    ]
    assert diags[0].message == "'counter' undeclared (first use in this function)"
    assert diags[1].message == "in expansion of macro 'pr_info'"


def test_without_build_dir_paths_stay_absolute_and_header_notes_stay() -> None:
    diags = parse_diagnostics(UNDECL)
    assert diags[0].file == f"{bdir('undecl', '7023cdac8b5c4aa7')}/undecl.c"
    assert any(d.file.endswith("include/linux/printk.h") for d in diags)
    assert len(diags) == len(set(diags))


def test_unused_variable_warning_keeps_flag_and_btf_line_is_ignored() -> None:
    diags = parse_diagnostics(UNUSED, bdir("unused", "4c20da8be2901d2c"))
    assert diags == [
        Diagnostic(
            "unused.c", 6, 13, "warning", "unused variable 'x' [-Wunused-variable]", "compiler"
        )
    ]


def test_missing_header_is_a_fatal_error_reported_as_error() -> None:
    (d,) = parse_diagnostics(NOHDR, bdir("nohdr", "a5b555d3561ecfd0"))
    assert (d.file, d.line, d.column, d.severity) == ("nohdr.c", 2, 10, "error")
    assert d.message == "linux/nosuchheader.h: No such file or directory"


def test_gpl_only_symbols_in_a_proprietary_module() -> None:
    diags = parse_diagnostics(GPLONLY, bdir("gplonly", "c93e1a9ce07e567e"))
    assert diags == [
        Diagnostic(
            "gplonly.ko",
            None,
            None,
            "error",
            f"GPL-incompatible module gplonly.ko uses GPL-only symbol '{sym}'",
            "modpost",
        )
        for sym in ("kernel_kobj", "kobject_create_and_add")
    ]
    assert str(diags[1]) == (
        "modpost: error: GPL-incompatible module gplonly.ko uses GPL-only symbol "
        "'kobject_create_and_add'"
    )


def test_undefined_symbol_from_modpost_gets_a_short_path() -> None:
    (d,) = parse_diagnostics(UNDEFSYM, bdir("undefsym", "71c9ed4288f95e5d"))
    assert d == Diagnostic(
        "undefsym.ko", None, None, "error", '"learner_helper" [undefsym.ko] undefined!', "modpost"
    )


def test_missing_module_license_is_an_error_in_6_1() -> None:
    (d,) = parse_diagnostics(NOLIC, bdir("nolic", "d7aa3cd26e3b9e36"))
    assert d == Diagnostic(
        "nolic.o", None, None, "error", "missing MODULE_LICENSE() in nolic.o", "modpost"
    )


def test_namespace_error_has_no_file() -> None:
    (d,) = parse_diagnostics(NS, bdir("ns", "83f8565ecaf67654"))
    assert (d.file, d.severity, d.origin) == ("", "error", "modpost")
    assert "from namespace CRYPTO_INTERNAL, but does not import it." in d.message


def test_section_mismatch_is_a_modpost_warning() -> None:
    (d,) = parse_diagnostics(SECMIS, bdir("secmis", "50c6352a38381bcd"))
    assert d == Diagnostic(
        "secmis.o",
        None,
        None,
        "warning",
        "section mismatch in reference: later (section: .text) -> table (section: .init.data)",
        "modpost",
    )


def test_multiple_definition_from_ld_points_at_the_second_source() -> None:
    (d,) = parse_diagnostics(DUPDEF, bdir("dupdef", "caa8e1bc4be1cd77"))
    assert d == Diagnostic(
        "b.c",
        2,
        None,
        "error",
        "multiple definition of `helper'; a.o:a.c:2: first defined here",
        "linker",
    )
    assert str(d) == "b.c:2: error: multiple definition of `helper'; a.o:a.c:2: first defined here"


def test_warning_in_learner_header_and_implicit_declaration() -> None:
    diags = parse_diagnostics(IMPLICIT, bdir("implicit", "91276c3faa3bbffb"))
    assert [(d.file, d.line, d.column, d.severity) for d in diags] == [
        ("defs.h", 2, 18, "warning"),
        ("implicit.c", 4, 8, "error"),
        ("implicit.c", 4, 41, "error"),
    ]
    assert diags[0].message == "no semicolon at end of struct or union"
    assert diags[2].message.endswith("[-Werror=implicit-function-declaration]")


def test_bad_cflags_come_from_the_compiler_driver() -> None:
    diags = parse_diagnostics(BAD_CFLAGS, "/tmp/kbx/unused")
    assert [(d.file, d.severity, d.origin) for d in diags] == [("", "error", "compiler")] * 2
    assert diags[1].message == "unrecognized command-line option '-Wbogus'"
    assert str(diags[1]) == "gcc: error: unrecognized command-line option '-Wbogus'"


def test_make_errors_only_when_nothing_better() -> None:
    diags = parse_diagnostics(NO_RULE, "/tmp/kbx/unused")
    assert diags[0] == Diagnostic(
        "",
        None,
        None,
        "error",
        "No rule to make target 'nosuch.o', needed by 'unused.o'.  Stop.",
        "make",
    )
    assert all(d.origin == "make" for d in diags)


def test_shell_error_explains_a_missing_compiler() -> None:
    diags = parse_diagnostics(NO_COMPILER, "/tmp/kbx/hello")
    assert diags[0].message == "gcc-12: not found"
    assert diags[0].origin == "make"


def test_ld_undefined_reference_and_warning_synthetic() -> None:
    diags = parse_diagnostics(LD_UNDEFINED, f"{ROOT}/x-1")
    assert diags == [
        Diagnostic("x.c", None, None, "error", "undefined reference to `foo'", "linker"),
        Diagnostic("", None, None, "warning", "creating DT_TEXTREL in a PIE", "linker"),
    ]


def test_successful_build_log_has_no_diagnostics() -> None:
    log = SECMIS.replace(
        "WARNING: modpost: /tmp/km/builds/secmis-50c6352a38381bcd/secmis.o: section mismatch "
        "in reference: later (section: .text) -> table (section: .init.data)\n",
        "",
    )
    assert "Skipping BTF generation" in log
    assert parse_diagnostics(log, bdir("secmis", "50c6352a38381bcd")) == []


def test_colour_codes_are_ignored() -> None:
    line = (
        "\x1b[01m\x1b[K/b/x.c:3:5:\x1b[m\x1b[K \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kexpected ';'\n"
    )
    assert parse_diagnostics(line, "/b") == [
        Diagnostic("x.c", 3, 5, "error", "expected ';'", "compiler")
    ]


@pytest.mark.parametrize("build_dir", ["/tmp/km/builds/syntax-20a966eeed852658/", None])
def test_build_dir_with_trailing_slash_or_none(build_dir: str | None) -> None:
    diags = parse_diagnostics(SYNTAX, build_dir)
    assert diags[0].file.endswith("syntax.c")
    assert (diags[0].file == "syntax.c") is (build_dir is not None)


def test_location_and_str_without_line() -> None:
    d = Diagnostic("defs.h", None, None, "warning", "w", "compiler")
    assert d.location == "defs.h"
    assert str(d) == "defs.h: warning: w"
    assert str(Diagnostic("", None, None, "error", "boom", "make")) == "make: error: boom"


# -- hints for the mistakes learners make (kernelmagic.kbuild.hints) ---------------------


def _cell(name: str) -> dict[str, CellSource]:
    """The captured module's source as the %%kmodule cell it came from."""
    text = (DATA / "sources" / f"{name}.c").read_text()
    return {f"{name}.c": CellSource(text, f"%%kmodule {name}", main=True)}


def test_a_decimal_mode_gets_a_hint_at_its_cell_line() -> None:
    diags = parse_diagnostics(captured("nonoctal"), bdir("nonoctal", "1fea3900a922460c"))
    error, note = diags
    assert error.message == "negative width in bit-field '<anonymous>'"
    assert error.file.endswith("include/linux/build_bug.h")  # the kernel's header, not ours
    assert (note.file, note.line, note.message) == (
        "nonoctal.c",
        7,
        "in expansion of macro 'module_param'",
    )
    text = hint(error, _cell("nonoctal"))
    assert text.startswith("cell line 8: the mode 644 is a decimal number (octal 1204)")
    assert "(0644)" in text
    assert hint(note, _cell("nonoctal")) == ""


def test_a_world_writable_sysfs_mode_gets_a_hint() -> None:
    diags = parse_diagnostics(captured("worldwr"), bdir("worldwr", "5888edc1d88bb852"))
    assert diags[1].message == "in expansion of macro '__ATTR'"
    text = hint(diags[0], _cell("worldwr"))
    assert text.startswith("cell line 21: 0666 lets every user write the file")
    assert "use 0664" in text


def test_a_build_bug_without_a_mode_mistake_gets_the_general_hint() -> None:
    (error, _note) = parse_diagnostics(captured("nonoctal"), bdir("nonoctal", "1fea3900a922460c"))
    fixed = {
        "nonoctal.c": CellSource("module_param(times, int, 0644);\n", "%%kmodule x", main=True)
    }
    assert "compile-time check of a kernel macro (BUILD_BUG_ON)" in hint(error, fixed)


def test_copy_from_user_compared_with_less_than_zero() -> None:
    (d,) = parse_diagnostics(captured("cfu_lt0"), bdir("cfu_lt0", "7614dcf802960e70"))
    assert (d.file, d.line, d.severity) == ("cfu_lt0.c", 13, "warning")
    assert "ignoring return value of 'copy_from_user'" in d.message
    text = hint(d, _cell("cfu_lt0"))
    assert "the number of bytes it could NOT copy" in text
    assert "'< 0' is never true" in text
    assert "if (copy_from_user(...)) return -EFAULT;" in text
    ignored = {"cfu_lt0.c": CellSource("\n" * 12 + "\tcopy_from_user(text, buf, len);\n", "x")}
    assert hint(d, ignored).endswith("test it and return -EFAULT when it is not 0")
