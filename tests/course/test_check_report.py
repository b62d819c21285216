# SPDX-License-Identifier: MIT
"""check_all, its report and the hint levels, module_ready, and the newer checks.

All against fakes: a fake guest answering the few commands the checks send, and a real
``Workspace`` whose builds are folders in ``tmp_path``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path

import pytest

from kernelmagic.course import _guest, check, writes
from kernelmagic.course.memory import pair_events
from kernelmagic.course.results import CheckFailed, CheckReport, CheckResult, Outcome, hint_levels
from kernelmagic.guest.modinfo import ModuleInfo, ParamInfo
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.workspace import Workspace, set_current
from tests.doubles.fake_guest import FileGuest


class Console:
    def __init__(self, crashes: Sequence[CrashReport] = ()) -> None:
        self.crashes = list(crashes)

    def mark(self) -> int:
        return 100

    def crashes_since(self, mark: int) -> list[CrashReport]:
        return [c for c in self.crashes if c.position >= mark]


def lenient_guest(
    files: dict[str, str], answers: dict[str, ExecResult] | None = None
) -> FileGuest:
    """The shared file guest, lenient, with a console that has seen no crash."""
    return FileGuest(files, answers=answers, console=Console(), strict=False)


LIVE = "hello 16384 0 - Live 0xffffffffc0200000 (OE)\n"


@pytest.fixture
def guest() -> FileGuest:
    return lenient_guest({"/proc/modules": LIVE, "/sys/x": "42\n"})


@pytest.fixture
def workspace(guest: FileGuest, tmp_path: Path):  # type: ignore[no-untyped-def]
    ws = Workspace(lambda: guest)  # type: ignore[arg-type, return-value]
    old = set_current(ws)
    yield ws
    set_current(old)


def _built(ws: Workspace, tmp_path: Path, name: str, text: str) -> BuildResult:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.c").write_text(text)
    result = BuildResult(name, folder / f"{name}.ko", folder, [], "", 0.1, False, "k", "6.1")
    ws.builds[name] = result
    ws.add_source(name, f"{name}.c", CellSource(text, f"%%kmodule {name}", main=True))
    return result


# -- hints, failures, reports -------------------------------------------------------------


def test_hint_levels_and_the_failure_text() -> None:
    assert hint_levels("one") == ("one",)
    assert hint_levels(("pointer", "", "shape")) == ("pointer", "shape")
    failed = CheckFailed("it broke", ("look here", "use foo()", "foo(1);"))
    assert failed.hint == "look here" and failed.hints[-1] == "foo(1);"
    assert str(failed) == "it broke\nHint: look here"
    assert isinstance(failed, AssertionError)
    lines = failed._render_traceback_()
    assert lines[0].endswith("CheckFailed\x1b[0m: it broke") and lines[1] == "Hint: look here"


def test_report_text_shows_the_first_hint_and_html_folds_every_level() -> None:
    report = CheckReport("greet", [
        Outcome(True, what="greet is loaded"),
        Outcome(False, message="no <line>\nlast lines", hints=("pointer", "api", "shape")),
        Outcome(False, message="fix the first problem", ran=False),
    ])  # fmt: skip
    assert report.summary() == "1 of 3 checks of greet passed" and not report.ok
    text = report.text()
    assert "✗ 1 of 3 checks of greet passed" in text
    assert "    hint 1 of 3: pointer" in text and "api" not in text
    assert "· not run: fix the first problem" in text
    html = report._repr_html_()
    assert html.count("<details") == 3 and "hint 3 of 3</summary><div>shape" in html
    assert "no &lt;line&gt;" in html and "<pre" in html


def test_check_all_runs_every_check_shows_the_report_and_raises(
    guest: FileGuest, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[object] = []
    monkeypatch.setattr(builtins, "display", shown.append, raising=False)
    with pytest.raises(CheckFailed) as info:
        check.check_all(
            lambda: CheckResult("first"),
            lambda: check.sysfs_value("/sys/x", 7, hint=("h1", "h2"), vm=guest),
            lambda: CheckResult("third"),
            vm=guest,
        )
    report = info.value.report
    assert shown == [report] and info.value.shown
    assert report is not None and report.summary() == "2 of 3 checks passed"
    assert info.value.hints == ("h1", "h2")
    assert "the report above" in info.value._render_traceback_()[0]


def test_check_all_returns_the_report_when_all_pass(guest: FileGuest) -> None:
    report = check.check_all(lambda: CheckResult("a"), lambda: CheckResult("b"), vm=guest)
    assert report.ok and "✓ 2 of 2 checks passed" in repr(report)


def test_a_module_that_is_not_loaded_stops_the_other_checks(guest: FileGuest) -> None:
    called: list[str] = []
    with pytest.raises(CheckFailed) as info:
        check.check_all(lambda: called.append("x") or CheckResult("x"), module="params",
                        loaded=True, vm=guest)  # fmt: skip
    assert called == []
    report = info.value.report
    assert report is not None
    assert report.outcomes[0].message == "params is not loaded"
    assert not report.outcomes[1].ran


# -- module_ready --------------------------------------------------------------------------


def test_module_ready_says_the_last_build_failed(  # type: ignore[no-untyped-def]
    guest: FileGuest, workspace, tmp_path: Path
) -> None:
    _built(workspace, tmp_path, "hello", "int x;\n")
    check.module_ready("hello", vm=guest)  # built from the cell's text, loaded
    workspace.set_main("hello", "int x = ;\n")  # the cell changed, and that build failed
    with pytest.raises(CheckFailed, match="hello did not build"):
        check.module_ready("hello", vm=guest)


def test_module_ready_names_a_crash_of_the_module(guest: FileGuest) -> None:
    guest.console.crashes = [CrashReport(
        "oops", "BUG: unable to handle page fault for address: 00007ffd5c2a3b40", "",
        module="hello", function="hello_write", offset=0x2d)]  # fmt: skip
    with pytest.raises(CheckFailed) as info:
        check.module_ready("hello", vm=guest)
    assert "hello crashed the kernel in this boot: oops in hello_write+0x2d" in info.value.message
    assert "user-space address" in info.value.message
    assert "%vm restart" in info.value.hints[1]


def test_module_ready_load_states(guest: FileGuest) -> None:
    guest.files["/proc/modules"] = "hello 16384 1 - Loading 0xffffffffc0200000 (OE+)\n"
    with pytest.raises(CheckFailed, match="hello is Loading, not Live"):
        check.module_ready("hello", vm=guest)
    guest.files["/proc/modules"] = LIVE
    with pytest.raises(CheckFailed, match="hello is still loaded") as info:
        check.module_ready("hello", loaded=False, vm=guest)
    assert "no exit function" in info.value.hints[1]
    assert "other is not loaded" in str(check.module_ready("other", loaded=False, vm=guest))


def test_a_cell_that_never_ran(guest: FileGuest, workspace) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckFailed, match="the %%kmodule params cell has not run yet"):
        check.module_ready("params", vm=guest)


def test_module_ready_notices_a_stale_copy(guest: FileGuest, workspace, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _built(workspace, tmp_path, "hello", "int x;\n")

    class Elf:
        def section(self, name: str) -> bytes:
            return b"note of the new build"

    monkeypatch.setattr(_guest, "read_elf", lambda path: Elf())
    guest.files["/sys/module/hello/notes/.note.gnu.build-id"] = "0" * 32  # another md5
    with pytest.raises(CheckFailed, match="not your last build"):
        check.module_ready("hello", vm=guest)


# -- files, metadata, exports ---------------------------------------------------------------


def test_file_checks(guest: FileGuest) -> None:
    assert "has mode 0644 (rw-r--r--)" in str(check.file_mode("/sys/x", 0o644, vm=guest))
    with pytest.raises(CheckFailed, match=r"has mode 0644 \(rw-r--r--\), expected 0444"):
        check.file_mode("/sys/x", 0o444, vm=guest)
    check.file_reads("/sys/x", 42, vm=guest)
    guest.answers["cat"] = ExecResult(137, "", "")  # the reader was killed by an oops
    with pytest.raises(CheckFailed, match="exists, but reading it failed: the reader was killed"):
        check.file_reads("/sys/x", 42, vm=guest)


def test_modinfo_field_and_exports(workspace, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    build = _built(workspace, tmp_path, "repeat", "x\n")
    info = ModuleInfo("repeat", {"author": ["A. Learner"], "version": ["0.2"]},
                      [ParamInfo("word", "charp", "The word")])  # fmt: skip
    monkeypatch.setattr(check, "read_modinfo", lambda path: info)
    check.modinfo_field("repeat", "author")
    check.modinfo_field("repeat", "parmdesc:word")
    with pytest.raises(CheckFailed, match=r"should have version '0\.1'; it has '0\.2'"):
        check.modinfo_field("repeat", "version", "0.1")
    with pytest.raises(CheckFailed, match="should have description; it has none"):
        check.modinfo_field("repeat", "description")
    (build.build_dir / "Module.symvers").write_text(
        "0x1234\trepeat_double\t/x/repeat\tEXPORT_SYMBOL\t\n"
    )
    check.exports_symbol("repeat", "repeat_double")
    with pytest.raises(CheckFailed, match="with EXPORT_SYMBOL, not EXPORT_SYMBOL_GPL"):
        check.exports_symbol("repeat", "repeat_double", gpl_only=True)
    with pytest.raises(CheckFailed, match="does not export other"):
        check.exports_symbol("repeat", "other")


# -- writes ---------------------------------------------------------------------------------


@pytest.fixture
def program(monkeypatch: pytest.MonkeyPatch) -> None:
    """The write program, as if built: only its output matters here."""
    monkeypatch.setattr(writes, "user_program", lambda name, source, vm=None: "/kmwrite")


def test_writes_of_reads_the_program_output() -> None:
    out = "write 300 256\nwrite 44 -1 ENOSPC\n"
    assert writes.writes_of(out) == (
        [writes.Write(300, 256), writes.Write(44, -1, "ENOSPC")],
        False,
    )
    assert writes.writes_of("write 2 0\n" * 3 + "zeros 3\n")[1] is True


def test_write_returns(guest: FileGuest, program: None) -> None:
    guest.answers["/kmwrite"] = ExecResult(0, "write 300 256\nwrite 44 -1 ENOSPC\n", "")
    result = check.write_returns("/dev/x", "x" * 300, [256, "ENOSPC"], vm=guest)
    assert (
        str(result)
        == "check passed: writing 300 bytes to /dev/x: write() returned 256, then ENOSPC"
    )
    assert guest.ran[-1] == ["/kmwrite", "/dev/x", "78" * 300]
    with pytest.raises(CheckFailed, match=r"write\(\) returned 256, then ENOSPC; expected 300"):
        check.write_returns("/dev/x", "x" * 300, [300], vm=guest)
    guest.answers["/kmwrite"] = ExecResult(0, "write 2 0\n" * 50 + "zeros 50\n", "")
    with pytest.raises(CheckFailed, match="returned 0 again and again") as info:
        check.write_returns("/sys/x", "42", [2], vm=guest)
    assert "return the number of bytes you took" in info.value.hint
    guest.answers["/kmwrite"] = ExecResult(137, "", "")
    with pytest.raises(CheckFailed, match="the writer was killed"):
        check.write_returns("/dev/x", fault=8, expect=["EFAULT"], vm=guest)
    assert guest.ran[-1] == ["/kmwrite", "/dev/x", "--fault", "8"]


def test_the_write_program_source_ships_with_the_package() -> None:
    assert "#define ZERO_TRIES 50" in writes.WRITER_SOURCE
    assert writes.ZERO_TRIES == 50


# -- memory ---------------------------------------------------------------------------------

_ALLOC = "insmod-121 [000] ..... 4.02: kmalloc: call_site=0xffffffffc02cf0{} ptr={} bytes_req=1000"
TRACE = "\n".join([
    _ALLOC.format("32", "00000000d2f472b7"),
    _ALLOC.format("6f", "000000009650c9dd"),
    "insmod-121 [000] .... 4.03: kfree: call_site=p9_req_put+0xcd/0xe0 [9pnet] ptr=0059c45985",
    "rmmod-122 [000] ..... 4.04: kfree: call_site=0xffffffffc02ca00c ptr=000000009650c9dd",
])  # fmt: skip


def test_pair_events_matches_allocations_with_their_frees() -> None:
    assert pair_events(TRACE) == (2, 1)
    assert pair_events("") == (0, 0)
