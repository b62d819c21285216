# SPDX-License-Identifier: MIT
"""What a learner reads of a crash, a stuck operation, a WARN or a flood.

The reports are real ones (``tests/data/faults``); addr2line is replaced by a table of
the places it gave for them, so that the whole path from report to view runs without
kbuild (``tests/guest/test_faults.py`` decodes them for real).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelmagic.errors import OperationStuck
from kernelmagic.guest import faults
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.kmod import ModuleOperation
from kernelmagic.kbuild.decode import SourcePlace
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.machine.crash import parse_reports
from kernelmagic.notebook.views import CrashView, LoadResult, LogView, StuckView

DATA = Path(__file__).resolve().parents[1] / "data" / "faults"

#: (function, offset) -> (file, line) as addr2line answered for the captured builds.
PLACES = {
    ("fnull_init", 0x1C): ("fnull.c", 9),
    ("fwarn_init", 0xE): ("fwarn.c", 8),
    ("ftimer_fire", 0x5): ("ftimer.c", 10),
    ("hang_init", 0x1A): ("hang.c", 9),
}

HANG = """#include <linux/module.h>
#include <linux/delay.h>
MODULE_LICENSE("GPL");

static int __init hang_init(void)
{
	pr_info("hang: waiting\\n");
	while (1)
		msleep(1000);
	return 0;
}
module_init(hang_init);
"""


@pytest.fixture
def decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., faults.Fault]:
    """``explain`` with addr2line's answers from PLACES and the learner's cells."""
    build = tmp_path / "builds" / "m-0123456789abcdef"
    build.mkdir(parents=True)

    def fake_decode(ko: Path, function: str, offset: int, *, return_address: bool = False):
        place = PLACES.get((function, offset - (1 if return_address else 0)))
        if place is None:
            return []
        return [SourcePlace(function, str(build / place[0]), place[1])]

    monkeypatch.setattr(faults, "decode_address", fake_decode)

    def files_of(module: str) -> dict[str, CellSource]:
        text = HANG if module == "hang" else (DATA / f"{module}.c").read_text()
        return {f"{module}.c": CellSource(text, f"%%kmodule {module}", main=True)}

    def explain(name: str) -> faults.Fault:
        report = parse_reports((DATA / f"{name}.txt").read_text())[0]
        return faults.explain(report, lambda module: build / f"{module}.ko", files_of)

    explain.stack = lambda lines: faults.explain_stack(  # type: ignore[attr-defined]
        lines, lambda module: build / f"{module}.ko", files_of
    )
    explain.build = build  # type: ignore[attr-defined]
    return explain


def test_an_oops_names_kind_function_and_cell_line_then_shows_the_code(decoded) -> None:
    view = CrashView(decoded("fnull"))
    text = repr(view)
    lines = text.splitlines()
    assert lines[0] == (
        "kernel oops in fnull_init+0x1c, line 10 of %%kmodule fnull: a NULL pointer dereference"
    )
    assert lines[1] == "  while  in the module's init function (during insmod)"
    assert lines[2].startswith("  hint   check the pointer")
    assert lines[3:9] == [
        "  line 10 of %%kmodule fnull:",
        "       8 |",
        '       9 |     pr_info("fnull: about to write through NULL\\n");',
        "    > 10 |     *p = 42;",
        "      11 |     return 0;",
        "      12 | }",
    ]
    assert "    fnull_init+0x1c [fnull], line 10 of %%kmodule fnull" in lines
    assert "    do_one_initcall" in lines  # kernel frames by name
    assert not any("? " in line for line in lines[: lines.index("  report (47 lines):")])
    assert "tainted (D: it died once)" in text and "%vm restart" in text
    html = view._repr_html_()
    assert "<details><summary>report (47 lines)</summary>" in html
    assert "&gt; <span" in html and "*p = 42;" in html
    for rendered in (text, html):
        assert str(decoded.build) not in rendered  # no host path in a stored notebook


def test_a_timer_oops_shown_in_the_next_cell_says_so(decoded) -> None:
    view = CrashView(decoded("ftimer"), late=True, next_step="the lab VM restarts")
    lines = repr(view).splitlines()
    assert lines[0] == "after an earlier cell had returned, the kernel reported:"
    assert lines[1].startswith("kernel oops in ftimer_fire+0x5, line 11 of %%kmodule ftimer:")
    assert "  while  in a timer callback (interrupt context)" in lines
    assert "    call_timer_fn (interrupt)" in lines
    assert any("Fatal exception in interrupt" in line for line in lines)
    assert "  the lab VM restarts" in lines
    assert not any("tainted (D" in line for line in lines)  # the kernel did not survive


def test_a_stuck_init_is_shown_at_its_msleep_line(decoded) -> None:
    stack = (DATA / "hang_stack.txt").read_text().splitlines()
    frames = decoded.stack(stack)
    what, hint = faults.stuck_words("insmod", frames, "D (disk sleep)")
    error = OperationStuck("x", argv=["/usr/local/sbin/kernelmagic-modop", "insmod"],
                           seconds=10.2, module="hang", state="D (disk sleep)", stack=stack,
                           restarted=True)  # fmt: skip
    view = StuckView(error, frames, what=what, hint=hint, command="insmod hang")
    lines = repr(view).splitlines()
    assert lines[0] == (
        "insmod hang: its init function has not returned (it sleeps in msleep, again and "
        "again) after 10 s; stuck in hang_init+0x1b, line 10 of %%kmodule hang"
    )
    assert "  state  D (disk sleep)" in lines
    assert "    > 10 |         msleep(1000);" in lines
    assert lines[-1].startswith("  the lab VM was restarted") and "are gone" in lines[-1]
    kept = OperationStuck("x", argv=["/bin/sh", "-c", "cat /dev/x"], seconds=60, state="S")
    shell = StuckView(kept, [], what="the command has not finished", command="cat /dev/x")
    assert repr(shell).splitlines()[-1] == "  the command was killed; the lab VM keeps running"
    asleep = OperationStuck("x", argv=["/bin/sh", "-c", "cat /dev/x"], seconds=60, state="D",
                            killed=False)  # fmt: skip
    last = repr(StuckView(asleep, [], what="the command has not finished")).splitlines()[-1]
    assert last.startswith("  the command could not be killed: it sleeps in the kernel")
    assert last.endswith("%vm restart gives a clean kernel")
    assert "<details><summary>/proc/PID/stack" in view._repr_html_()


def _records(name: str) -> list[LogRecord]:
    out = []
    for line in (DATA / f"{name}.txt").read_text().splitlines():
        match = re.match(r"\[\s*(\d+\.\d+)\] (.*)$", line)
        if match:
            out.append(LogRecord(4, 0, float(match[1]), match[2]))
    return out


def test_a_warn_in_a_load_is_folded_under_one_decoded_line(decoded) -> None:
    records = _records("fwarn")
    op = ModuleOperation("insmod", "fwarn", ["insmod", "fwarn.ko"], records, 0.1)
    result = LoadResult(op, explain=lambda report: decoded("fwarn"))
    text = repr(result).splitlines()
    assert text[0] == "fwarn loaded"
    summary = next(i for i, line in enumerate(text) if line.startswith("  >> "))
    assert text[summary] == (
        "  >> warning in fwarn_init+0xe, line 9 of %%kmodule fwarn: a WARN_ON() or WARN() "
        "fired: the kernel found something wrong and went on"
    )
    assert text[summary + 1] == "  ------------[ cut here ]------------"  # then the report
    html = result._repr_html_()
    assert html.count("<details>") == 1 and "warning in fwarn_init+0xe" in html
    assert result.log == "\n".join(r.message for r in records)  # nothing lost for checks


def test_a_flood_shows_its_start_and_end_and_counts_the_rest() -> None:
    records = [LogRecord(6, 0, 1.0 + i / 1e4, f"flood: line {i}") for i in range(200)]
    op = ModuleOperation("insmod", "flood", ["insmod"], records, 0.6)
    lines = repr(LoadResult(op)).splitlines()
    assert lines[:2] == ["flood loaded", "  flood: line 0"] and lines[-1] == "  flood: line 199"
    assert lines[11] == "  ... 170 lines left out (%dmesg shows the kernel log)"
    assert len(lines) == 1 + 10 + 1 + 20


def test_a_flood_whose_start_the_guest_left_out_is_cut_on_top() -> None:
    # The guest helper keeps a flood's last 200 records and counts the others.
    records = [LogRecord(6, 0, 1.0, f"flood: line {i}") for i in range(99800, 100000)]
    op = ModuleOperation("insmod", "flood", ["insmod"], records, 0.6, omitted=99800)
    result = LoadResult(op, notices=["lab VM restarted first: flood was stuck [Loading]"])
    lines = repr(result).splitlines()
    assert lines[:3] == [
        "lab VM restarted first: flood was stuck [Loading]",
        "flood loaded",
        "  ... 99970 lines left out (%dmesg shows the kernel log)",
    ]
    assert lines[3] == "  flood: line 99970" and lines[-1] == "  flood: line 99999"
    assert len(lines) == 3 + 30 and result.left_out == 99970
    assert "99970 lines left out" in result._repr_html_()


def test_dmesg_folds_reports_too(decoded) -> None:
    view = LogView(_records("fnull"), explain=lambda report: decoded("fnull"))
    text = repr(view)
    assert ">> kernel oops in fnull_init+0x1c, line 10 of %%kmodule fnull" in text
    html = view._repr_html_()
    assert html.count("<details>") == 1 and "fnull: about to write through NULL" in html
