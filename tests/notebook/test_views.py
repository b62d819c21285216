# SPDX-License-Identifier: MIT
"""The result objects: HTML always escaped, plain text stable and readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, ModuleError, OperationStuck
from kernelmagic.guest.facts import GuestFacts
from kernelmagic.guest.faults import Fault, Frame
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.kmod import LoadedModule, ModuleOperation
from kernelmagic.guest.modinfo import ModuleInfo, ParamInfo
from kernelmagic.kbuild.decode import SourcePlace
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource, SourceLine
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.vm import VMStatus
from kernelmagic.notebook.views import (
    BuildFailure,
    ConsoleView,
    CrashView,
    DiagnosticList,
    KModuleResult,
    LoadResult,
    LogView,
    ModuleCard,
    ModuleErrorView,
    ModuleTable,
    Notice,
    ShellResult,
    StuckView,
    VMStatusCard,
)

EVIL = "<script>alert('x')</script>&"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;"


def info(text: str = EVIL) -> ModuleInfo:
    return ModuleInfo(
        "hello",
        {"license": ["GPL"], "description": [text], "author": [text], "vermagic": ["6.1 SMP"]},
        [ParamInfo("name", "charp", text)],
    )


def build_result(tmp_path: Path, cached: bool = False) -> BuildResult:
    ko = tmp_path / "hello.ko"
    ko.write_bytes(b"x" * 2048)
    return BuildResult("hello", ko, tmp_path, [], "", 0.8412, cached, "k", "6.1.0-56-amd64")


def evil_fault(report: CrashReport) -> Fault:
    """A decoded fault whose every word came from the guest or the learner."""
    line = SourceLine("line 4", EVIL, 4, EVIL, ((3, EVIL), (4, EVIL)))
    place = SourcePlace(EVIL, "/b/m.c", 3, source=line)
    frame = Frame(EVIL, 1, EVIL, is_rip=True, places=(place,))
    return Fault(report, EVIL, EVIL, (frame, Frame(EVIL, 2)), (EVIL,), EVIL)


def views(tmp_path: Path) -> list[object]:
    record = LogRecord(3, 0, 12.5, EVIL)
    op = ModuleOperation("insmod", "hello", ["insmod", "x"], [record], 0.1)
    diag = Diagnostic("hello.c", 1, 3, "error", EVIL, "compiler")
    files = {"hello.c": CellSource(f"int {EVIL};\n", "%%kmodule hello", main=True)}
    report = CrashReport("oops", EVIL, EVIL, module="m", function="f", offset=1)
    facts = GuestFacts("6.1", 5.0, 2048, 1024, 1 << 12, [LoadedModule(EVIL, 1, 0, [], "Live")])
    status = VMStatus(True, "tcg", EVIL, "6.1", 1.4, 5.0, 1, None)
    return [
        Notice(EVIL),
        ModuleCard(info(), build=build_result(tmp_path), size=2048),
        DiagnosticList([diag], files),
        BuildFailure("hello", BuildError(EVIL, [diag], EVIL), files),
        BuildFailure("hello", BuildError(EVIL, [], EVIL), files),
        LoadResult(op),
        ModuleErrorView(ModuleError(EVIL, errno_name="EINVAL", hint=EVIL, log=[EVIL])),
        ModuleTable([LoadedModule(EVIL, 1, 1, [EVIL], "Live")]),
        LogView([record]),
        ShellResult(EVIL, ExecResult(1, EVIL, EVIL)),
        VMStatusCard(status, facts),
        CrashView(evil_fault(report), next_step=EVIL, late=True),
        StuckView(
            OperationStuck(EVIL, argv=[EVIL], stack=[EVIL]),
            evil_fault(report).frames,
            what=EVIL,
            hint=EVIL,
            command=EVIL,
        ),
        ConsoleView([EVIL], EVIL),
    ]


def test_html_is_always_escaped(tmp_path: Path) -> None:
    for view in views(tmp_path):
        html = view._repr_html_()  # type: ignore[attr-defined]
        assert "<script>" not in html, type(view).__name__
        assert "alert(&#x27;x&#x27;)" in html, type(view).__name__
        assert EVIL in repr(view), type(view).__name__  # plain text is not escaped


def test_module_card_text(tmp_path: Path) -> None:
    card = ModuleCard(info("Says hello"), build=build_result(tmp_path), size=2048)
    assert repr(card) == (
        "module hello (hello.ko for 6.1.0-56-amd64)\n"
        "  license      GPL\n"
        "  description  Says hello\n"
        "  author       Says hello\n"
        "  vermagic     6.1 SMP\n"
        "  size         2.0 KiB (.ko file, with debug info)\n"
        "  parameters   name  charp  Says hello\n"
        "  built in 0.84 s"
    )
    cached = ModuleCard(info("x"), build=build_result(tmp_path, cached=True))
    assert repr(cached).endswith("  from cache (built in 0.84 s)")
    assert "from cache" in cached._repr_html_()


def test_module_card_without_license_or_params() -> None:
    card = ModuleCard(ModuleInfo("bare", {}, []))
    assert "  license      (none)" in repr(card)
    assert "  parameters   (none)" in repr(card)


@pytest.mark.parametrize(
    ("line", "column", "caret_at"),
    [("y = x;", 5, 4), ("\tx = 1;", 9, 8), ("ab\tx;", 9, 8), ("\t\tx;", 17, 16)],
)
def test_caret_under_gcc_display_column(line: str, column: int, caret_at: int) -> None:
    diag = Diagnostic("hello.c", 1, column, "error", "boom", "compiler")
    text = repr(DiagnosticList([diag], {"hello.c": CellSource(line + "\n", "k", main=True)}))
    source_line, caret_line = text.splitlines()[1:3]
    shown = source_line.split("| ", 1)[1]
    caret = caret_line.split("| ", 1)[1]
    assert caret == " " * caret_at + "^"
    assert shown == line.expandtabs(8)
    assert shown[caret_at] == "x"


def test_modpost_gpl_only_hint_points_at_the_license() -> None:
    diag = Diagnostic(
        "gplonly.ko", None, None, "error",
        "GPL-incompatible module gplonly.ko uses GPL-only symbol 'kobject_create_and_add'",
        "modpost",
    )  # fmt: skip
    files = {"gplonly.c": CellSource('MODULE_LICENSE("Proprietary");\n', "k", main=True)}
    text = repr(BuildFailure("gplonly", BuildError("x", [diag], ""), files))
    assert "modpost: error: GPL-incompatible module gplonly.ko uses GPL-only symbol" in text
    assert "EXPORT_SYMBOL_GPL" in text


def test_build_failure_without_diagnostics_shows_the_log_tail() -> None:
    log = "\n".join(f"line {i}" for i in range(40))
    text = repr(BuildFailure("x", BuildError("build failed: make died", [], log), {}))
    assert "build failed: make died" in text and "line 39" in text and "line 10" not in text


def test_log_view_levels_are_coloured_and_truncated() -> None:
    records = [LogRecord(level, 0, float(level), f"at {level}") for level in range(8)]
    view = LogView(records, limit=5)
    html = view._repr_html_()
    assert "3 earlier records left out" in html
    assert "color:#d32f2f" in html  # err
    assert "background:#b71c1c" not in html  # emerg was left out
    text = repr(view)
    assert text.splitlines()[1] == "[    3.000000] err     at 3"
    assert view.log.splitlines()[0] == "at 0"  # .log keeps every record


def test_multi_line_records_are_indented() -> None:
    view = LogView([LogRecord(6, 0, 1.0, "first\nsecond")])
    assert repr(view) == "[    1.000000] info    first\n" + " " * 23 + "second"


def test_module_table_looks_like_lsmod() -> None:
    table = ModuleTable([
        LoadedModule("bridge", 311296, 0, [], "Live"),
        LoadedModule("stp", 16384, 1, ["bridge"], "Live"),
        LoadedModule("gone", 16384, 0, [], "Unloading"),
    ])  # fmt: skip
    assert repr(table).splitlines() == [
        "Module                 Size  Used by",
        "bridge               311296  0",
        "stp                   16384  1 bridge",
        "gone                  16384  0  [Unloading]",
    ]


def test_kmodule_result_combines_its_parts(tmp_path: Path) -> None:
    op = ModuleOperation("insmod", "hello", [], [LogRecord(6, 0, 1.0, "Hello!")], 0.1)
    result = KModuleResult(
        ModuleCard(info("x"), build=build_result(tmp_path)),
        installed="/lib/modules/6.1/extra/hello.ko",
        load=LoadResult(op),
    )
    text = repr(result)
    assert "installed as /lib/modules/6.1/extra/hello.ko (depmod -a done)" in text
    assert text.endswith("hello loaded\n  Hello!")
    assert result.log == "Hello!"


def test_shell_result_text() -> None:
    assert repr(ShellResult("ls", ExecResult(0, "a\nb\n", ""))) == "a\nb"
    assert repr(ShellResult("x", ExecResult(2, "", "no\n"))) == "no\n[exit status 2]"
    killed = ShellResult("x", ExecResult(137, "", "", signal=9))
    assert repr(killed) == "[killed by signal 9, SIGKILL]"
    by_shell = ShellResult("x", ExecResult(137, "", ""))
    assert repr(by_shell) == "[exit status 137: killed by signal 9, SIGKILL]"


def test_diagnostics_point_at_cell_lines_of_kmodule_and_kfile_cells() -> None:
    from kernelmagic.kbuild.sources import Location, licence_location, locate

    files = {
        "hello_main.c": CellSource("int a;\nint b\n", "%%kmodule hello", main=True),
        "util.c": CellSource("x;\n", "%%kfile hello/util.c"),
    }
    main = Diagnostic("hello_main.c", 2, 6, "error", "expected ';'", "compiler")
    assert locate(main, files) == Location("cell line 3", "int b", 3)
    util = Diagnostic("util.c", 1, 1, "warning", "no type", "compiler")
    assert locate(util, files) == Location("util.c, cell line 2 of %%kfile hello/util.c", "x;", 2)
    header = Diagnostic("include/linux/x.h", 4, 2, "note", "declared here", "compiler")
    assert locate(header, files) == Location("include/linux/x.h:4:2")
    assert locate(Diagnostic("", None, None, "error", "undefined", "linker"), files).label == "ld"
    modpost = Diagnostic("hello.ko", None, None, "error", "x undefined!", "modpost")
    assert locate(modpost, files) == Location("modpost")
    assert licence_location(files) == ""
    files["util.c"] = CellSource('x;\nMODULE_LICENSE("GPL");\n', "%%kfile hello/util.c")
    assert licence_location(files) == "util.c, cell line 3 of %%kfile hello/util.c"
