# SPDX-License-Identifier: MIT
"""check.debug_message tells pr_debug() from pr_info() by loading the module twice."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kernelmagic.course import check, dyndbg
from kernelmagic.machine.exec_result import ExecResult

LINE = "3 squared is 9"
CONTROL = (
    "# filename:lineno [module]function flags format\n"
    'squares.c:12 [squares]squares_init =p "%d squared is %d\\n"\n'
    'other.c:3 [other]other_init =_ "x\\n"\n'
)


class Guest:
    def __init__(self, control: str) -> None:
        self.control = control

    def exec(self, argv: list[str], **_: Any) -> ExecResult:
        assert argv == ["cat", dyndbg.DYNAMIC_DEBUG]
        return ExecResult(0, self.control, "")


def lab(monkeypatch: pytest.MonkeyPatch, *, debug_line: bool, always_line: bool) -> list[Any]:
    """The module logs LINE only with dyndbg=+p (pr_debug), or always (pr_info)."""
    loads: list[Any] = []

    def insmod(vm: Any, ko: Path, params: Mapping[str, object]) -> Any:
        loads.append(dict(params))
        on = params.get("dyndbg") == "+p"
        logged = always_line or (debug_line and on)
        return SimpleNamespace(log_text=LINE if logged else "sum of squares up to 3 is 14")

    monkeypatch.setattr(dyndbg, "last_build", lambda name: SimpleNamespace(ko_path=Path("x")))
    monkeypatch.setattr(dyndbg.kmod, "insmod", insmod)
    monkeypatch.setattr(dyndbg.kmod, "rmmod", lambda vm, name: None)
    monkeypatch.setattr(dyndbg.kmod, "is_loaded", lambda vm, name: True)
    return loads


def test_pr_debug_passes_and_loads_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = lab(monkeypatch, debug_line=True, always_line=False)
    result = check.debug_message("squares", LINE, {"steps": 3}, vm=Guest(CONTROL))
    assert "logged only with dynamic debug on (1 of 1 pr_debug() sites of squares on)" in str(
        result
    )
    assert loads == [{"steps": 3}, {"steps": 3, "dyndbg": "+p"}]


def test_pr_info_fails_with_the_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    lab(monkeypatch, debug_line=False, always_line=True)
    with pytest.raises(check.CheckFailed, match="logged with dynamic debug off") as info:
        check.debug_message("squares", LINE, hint="use pr_debug()", vm=Guest(CONTROL))
    assert "use pr_debug()" in str(info.value.hint)


def test_a_module_without_debug_sites_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    lab(monkeypatch, debug_line=False, always_line=False)
    no_sites = CONTROL.replace("[squares]", "[elsewhere]")
    with pytest.raises(check.CheckFailed, match="lists no pr_debug"):
        check.debug_message("squares", LINE, vm=Guest(no_sites))
