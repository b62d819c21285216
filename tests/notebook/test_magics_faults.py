# SPDX-License-Identifier: MIT
"""Crashes, deadlines and interrupts as the magics show them, over a simulated guest.

The real thing runs in ``tests/faults``; here the fake guest's console gets reports
between cells, its insmod never returns for a module named in ``stuck``, and Ctrl-C
is raised from inside a command.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import KernelCrashed, OperationStuck
from kernelmagic.machine.crash import parse_reports
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.notebook.magics._common import LabMagics
from kernelmagic.notebook.views import CrashView, LoadResult, Notice, ShellResult, StuckView
from tests.doubles.fake_lab import Lab, make_lab

DATA = Path(__file__).resolve().parents[1] / "data" / "faults"
MODULE = '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'
HANG_STACK = [
    "msleep+0x29/0x40",
    "hang_init+0x1b/0x1000 [hang]",
    "do_one_initcall+0x56/0x220",
]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path))
    lab = make_lab(tmp_path)
    yield lab
    lab.session.shutdown()


def ok(lab: Lab, code: str) -> Any:
    result = lab.run(code)
    assert result.success, result.error_in_exec
    return result.result


def captured(name: str) -> str:
    return (DATA / f"{name}.txt").read_text()


def add_report(lab: Lab, name: str) -> None:
    """The console of the running fake VM gets a captured report, as if a timer fired."""
    report = parse_reports(captured(name))[0]
    lab.vm.console.add_crash(report.kind, report.title, report.report, fatal=report.fatal,
                             module=report.module, function=report.function,
                             offset=report.offset)  # fmt: skip


def test_an_oops_after_a_cell_returned_is_shown_at_the_top_of_the_next(lab: Lab) -> None:
    ok(lab, "%lsmod")
    add_report(lab, "fwork")  # a work item oopsed while no cell ran
    lab.shown.clear()
    ok(lab, "%lsmod")
    view = lab.shown[0]
    assert isinstance(view, CrashView) and view.late
    text = repr(view)
    assert text.startswith("after an earlier cell had returned, the kernel reported:\n")
    assert "kernel oops in fwork_run+0x5 [fwork]: a NULL pointer dereference" in text
    assert "in a work item (run by a kworker thread)" in text and "tainted (D" in text
    lab.shown.clear()
    ok(lab, "%lsmod")
    assert not any(isinstance(x, CrashView) for x in lab.shown)  # shown once


def test_a_panic_after_a_cell_returned_is_shown_then_the_vm_restarts(lab: Lab) -> None:
    ok(lab, "%lsmod")
    add_report(lab, "ftimer")
    lab.vm.running = False  # the panic ended QEMU
    lab.shown.clear()
    ok(lab, "%lsmod")
    crash, restarted = lab.shown[:2]
    assert isinstance(crash, CrashView) and crash.late and crash.report.fatal
    assert "in a timer callback (interrupt context)" in repr(crash)
    assert "restarts when a command needs it" in repr(crash)
    assert repr(restarted).startswith(
        "lab VM restarted after the kernel crash (BUG: kernel NULL pointer dereference"
    )
    assert lab.vm.starts == 2


def test_a_warning_in_a_load_is_folded_not_shown_again(lab: Lab) -> None:
    ok(lab, f"%%kmodule fwarn\n{MODULE}")
    records = [line.split("] ", 1)[1] for line in captured("fwarn").splitlines()]

    def warn(params: dict[str, str]) -> tuple[int, list[str]]:
        add_report(lab, "fwarn")
        return 0, records

    lab.vm.behaviour["fwarn"] = warn
    result = ok(lab, "%insmod fwarn")
    assert isinstance(result, LoadResult)
    assert "  >> warning in fwarn_init+0xe [fwarn]: a WARN_ON() or WARN() fired" in repr(result)
    assert result._repr_html_().count("<details>") == 1
    lab.shown.clear()
    ok(lab, "%lsmod")
    assert not any(isinstance(x, CrashView) for x in lab.shown)


def test_an_init_that_never_returns_is_stuck_at_the_deadline(lab: Lab) -> None:
    ok(lab, f"%%kmodule hang\n{MODULE}")
    lab.vm.stuck["hang"] = HANG_STACK
    result = lab.run("%insmod hang --timeout 0.3")
    assert isinstance(result.error_in_exec, OperationStuck)
    view = next(x for x in lab.shown if isinstance(x, StuckView))
    text = repr(view)
    assert text.startswith("insmod hang: its init function has not returned (it sleeps in msleep")
    assert "stuck in hang_init+0x1b [hang]" in text
    assert "    hang_init+0x1b [hang]" in text and "    msleep" in text


@pytest.mark.parametrize(
    ("config", "line", "expected"),
    [
        ("", "%insmod m", 10.0),
        ("%config LabMagics.module_timeout = 2.5", "%insmod m", 2.5),
        ("%config LabMagics.module_timeout = 2.5", "%insmod m --timeout 4", 4.0),
        ("%insmod m --timeout 1", "%rmmod m --timeout 7", 7.0),
        ("%config LabMagics.module_timeout = 3", "%%kmodule m --load\n" + MODULE, 3.0),
    ],
)
def test_timeouts_per_call_and_per_notebook(lab: Lab, config: str, line: str,
                                            expected: float) -> None:  # fmt: skip
    ok(lab, f"%%kmodule m\n{MODULE}")
    seen: list[float] = []
    workspace = lab.session.workspace
    for method in ("load", "unload"):
        real = getattr(workspace, method)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            seen.append(kwargs["timeout"])
            return _real(*args, **kwargs)

        setattr(workspace, method, spy)
    if config:
        ok(lab, config)
    seen.clear()
    ok(lab, line)
    assert seen == [expected]


def test_the_timeouts_are_configurable_traits() -> None:
    traits = LabMagics.class_traits(config=True)
    assert traits["module_timeout"].default_value == 10.0
    assert traits["shell_timeout"].default_value == 60.0
    assert "%config LabMagics.module_timeout" in LabMagics.__doc__


def test_vmsh_timeout_in_both_forms(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelmagic.notebook.magics import shell

    seen: list[tuple[str, float]] = []
    real = shell.run_shell

    def spy(vm: Any, argv: list[str], *, timeout: float, progress: Any = None) -> Any:
        seen.append((argv[-1], timeout))
        return real(vm, argv, timeout=timeout, progress=progress)

    monkeypatch.setattr(shell, "run_shell", spy)
    assert isinstance(ok(lab, "%vmsh --timeout 5 echo hi"), ShellResult)
    ok(lab, "%vmsh echo --timeout stays")
    ok(lab, "%%vmsh --timeout=7\necho cell")
    ok(lab, "%config LabMagics.shell_timeout = 9")
    ok(lab, "%vmsh echo later")
    assert seen == [("echo hi", 5.0), ("echo --timeout stays", 60.0), ("echo cell\n", 7.0),
                    ("echo later", 9.0)]  # fmt: skip
    for bad in ("%vmsh --timeout x ls", "%vmsh --timeout 0 ls", "%vmsh --timeout nan ls",
                "%vmsh --timeout inf ls", "%%vmsh --verbose\nls"):
        result = lab.run(bad)
        assert "timeout" in str(result.error_in_exec) or "only --timeout" in str(
            result.error_in_exec
        )


def test_a_stuck_shell_command_is_shown_and_the_vm_kept(lab: Lab, monkeypatch) -> None:
    from kernelmagic.notebook.magics import shell

    def stuck(vm: Any, argv: list[str], **kwargs: Any) -> Any:
        stack = ["kernfs_fop_write_iter+0x11c/0x1b0", "vfs_write+0xc4/0x3f0"]
        raise OperationStuck("stuck", argv=argv, seconds=5.0, state="R (running)", stack=stack)

    monkeypatch.setattr(shell, "run_shell", stuck)
    result = lab.run("%vmsh echo 42 > /sys/kernel/kmbox/value")
    assert isinstance(result.error_in_exec, OperationStuck)
    view = lab.shown[-1]
    assert isinstance(view, StuckView)
    text = repr(view)
    assert text.startswith("echo 42 > /sys/kernel/kmbox/value: the command has not finished")
    assert "store() or write() returning 0" in text
    assert text.endswith("the command was killed; the lab VM keeps running")
    assert lab.vm.is_running() and lab.vm.starts == 1


def test_ctrl_c_during_a_build_says_what_was_stopped(lab: Lab, capsys) -> None:
    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    lab.session.workspace._builder = interrupt  # type: ignore[assignment]
    capsys.readouterr()
    result = lab.run(f"%%kmodule m\n{MODULE}")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    out = capsys.readouterr().out.strip()
    assert out.endswith(
        "%%kmodule interrupted while building m: the compiler was stopped and nothing was "
        "built; run the cell again to build"
    )
    assert len(out.splitlines()) == 1


def test_ctrl_c_during_the_boot_says_the_vm_was_stopped(lab: Lab, capsys) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    lab.vm.start = interrupt  # type: ignore[method-assign]
    capsys.readouterr()
    result = lab.run("%lsmod")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(
            "%lsmod interrupted while booting the lab VM: the half-started lab VM was stopped; "
            "the next command boots it again"
        )
    )


def test_notices_of_the_workspace_come_with_the_load(lab: Lab, monkeypatch) -> None:
    ok(lab, f"%%kmodule m\n{MODULE}")
    workspace = lab.session.workspace
    real = workspace.load

    def with_notice(*args: Any, **kwargs: Any) -> Any:
        change = real(*args, **kwargs)
        change.notices.append("the lab VM was restarted first: m was stuck [Loading]")
        return change

    monkeypatch.setattr(workspace, "load", with_notice)
    text = repr(ok(lab, "%insmod m"))
    assert text.splitlines()[:2] == [
        "the lab VM was restarted first: m was stuck [Loading]",
        "m loaded",
    ]


def test_a_fatal_crash_during_a_command_is_not_shown_again_later(lab: Lab) -> None:
    ok(lab, f"%%kmodule m\n{MODULE}")

    def die(argv: list[str]) -> None:
        if argv[0] == "insmod":
            lab.vm.crash_now(module="m", function="m_init", offset=4)

    lab.session.vm  # noqa: B018
    lab.vm.on_exec = die
    result = lab.run("%insmod m")
    assert isinstance(result.error_in_exec, KernelCrashed)
    lab.vm.on_exec = None
    lab.shown.clear()
    ok(lab, "%lsmod")
    assert [type(x) for x in lab.shown] == [Notice]  # the restart, no late report


def test_a_warning_caused_by_a_shell_command_is_shown_with_it(lab: Lab) -> None:
    ok(lab, "%lsmod")
    lab.vm.shell = lambda text: (add_report(lab, "fwarn"), ExecResult(0, ""))[1]
    lab.shown.clear()
    ok(lab, "%vmsh echo 1 > /sys/kernel/x/value")
    views = [x for x in lab.shown if isinstance(x, CrashView)]
    assert len(views) == 1 and not views[0].late
    assert repr(views[0]).startswith("warning in fwarn_init+0xe [fwarn]: a WARN_ON()")
