# SPDX-License-Identifier: MIT
"""The lab session under the magics: lazy start, crashes, restarts, %vm, live displays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import BootTimeout, KernelCrashed, ModuleError
from kernelmagic.guest.facts import TAINT_FLAGS, decode_taint
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.notebook import progress
from kernelmagic.notebook.session import LabSession
from kernelmagic.notebook.views import CrashView, ModuleErrorView, VMStatusCard
from tests.doubles.fake_lab import Lab, make_lab

MODULE = 'MODULE_LICENSE("GPL");\n'


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path))
    lab = make_lab(tmp_path)
    yield lab
    lab.session.shutdown()


def test_vm_starts_lazily_once_with_one_line(lab: Lab) -> None:
    assert lab.vm.starts == 0
    lab.run("%lsmod")
    lab.run("%lsmod")
    assert lab.vm.starts == 1
    assert [repr(x) for x in lab.shown] == ["lab VM ready in 1.4 s (tcg)"]


def test_vm_subcommands(lab: Lab) -> None:
    assert repr(lab.run("%vm stop").result) == "lab VM is not running"
    assert repr(lab.run("%vm start").result) == "lab VM ready in 1.4 s (tcg)"
    assert repr(lab.run("%vm start").result).startswith("lab VM already running (tcg")
    assert repr(lab.run("%vm restart").result) == (
        "lab VM restarted with a fresh kernel: ready in 1.4 s (tcg)"
    )
    assert lab.vm.starts == 2
    assert "kernelmagic: init started" in repr(lab.run("%vm log -n 5").result)
    assert repr(lab.run("%vm stop").result).startswith("lab VM stopped")
    assert "not running; its last console" in repr(lab.run("%vm log").result)
    assert lab.run("%vm bogus").error_in_exec is not None


def test_vm_status_never_starts_the_vm(lab: Lab) -> None:
    card = lab.run("%vm").result
    assert isinstance(card, VMStatusCard) and not card.status.running
    assert "  state        stopped" in repr(card) and card.facts is None
    assert "  start        %vm start, or any command that needs the VM" in repr(card)
    assert lab.vm.starts == 0
    lab.run("%vm start")
    assert "  state        running" in repr(lab.run("%vm status").result)
    lab.run("%vm stop")
    assert "  state        stopped" in repr(lab.run("%vm status").result)
    assert lab.vm.starts == 1 and not lab.vm.is_running()


def test_vm_status_explains_taint(lab: Lab) -> None:
    lab.run(f"%%kmodule hello --load\n{MODULE}")
    card = lab.run("%vm status").result
    assert isinstance(card, VMStatusCard)
    text = repr(card)
    assert "accelerator  tcg: no /dev/kvm on this host; using TCG" in text
    assert "kernel       6.1.0-56-amd64" in text
    assert "memory       163.9 MiB available of 205.9 MiB" in text
    assert "modules      2 loaded: hello, virtio_ring" in text
    assert "taint        12288 (OE)" in text
    assert "O  a module built outside the kernel tree (out-of-tree) was loaded" in text
    assert "E  an unsigned module was loaded" in text


def test_decode_taint() -> None:
    assert decode_taint(0) == []
    assert [f.letter for f in decode_taint(12288)] == ["O", "E"]
    assert [f.letter for f in decode_taint(1 | 1 << 7 | 1 << 9)] == ["P", "D", "W"]
    assert decode_taint(1 << 30)[0].letter == "?"
    assert [f.bit for f in TAINT_FLAGS] == list(range(len(TAINT_FLAGS)))


def test_a_fatal_crash_shows_the_report_and_the_next_command_restarts(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.run(f"%%kmodule crash\n{MODULE}")

    def die(argv: list[str]) -> None:
        if argv[0] == "insmod":
            lab.vm.crash_now(
                "BUG: kernel NULL pointer dereference, address: 0000000000000000",
                module="crash", function="crash_init", offset=0x13, fatal=True,
            )  # fmt: skip

    lab.session.vm  # noqa: B018
    lab.vm.on_exec = die
    capsys.readouterr()
    result = lab.run("%insmod crash")
    assert isinstance(result.error_in_exec, KernelCrashed)
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "restarts with your next command" in out
    view = lab.shown[-1]
    assert isinstance(view, CrashView)
    text = repr(view)
    assert text.startswith("kernel panic in crash_init+0x13 [crash]: a NULL pointer dereference")
    assert "restarts with your next command" in text
    lab.vm.on_exec = None
    lab.run("%lsmod")
    assert repr(lab.shown[-1]) == (
        "lab VM restarted after the kernel crash (BUG: kernel NULL pointer dereference, "
        "address: 0000000000000000): ready in 1.4 s (tcg)"
    )


@pytest.mark.parametrize("booted", [True, False], ids=["vm-up", "first-command-boots"])
def test_an_oops_the_kernel_survives_is_shown_with_the_failure(lab: Lab, booted: bool) -> None:
    lab.run(f"%%kmodule crash\n{MODULE}")
    if booted:
        lab.session.vm  # noqa: B018

    def oops(argv: list[str]) -> None:
        if argv[0] == "insmod":
            lab.vm.console.add_crash(
                "oops", "BUG: kernel NULL pointer dereference", "BUG: kernel NULL ...\nRIP: x",
                module="crash", function="crash_init", offset=0x13,
            )  # fmt: skip
            lab.vm.printk(1, "BUG: kernel NULL pointer dereference, address: 0")

    lab.vm.on_exec = oops
    lab.vm.behaviour["crash"] = lambda p: (-14, [])
    result = lab.run("%insmod crash")
    assert isinstance(result.error_in_exec, ModuleError)
    crash = lab.shown[-1]  # one output for one failure: the crash explains it
    assert isinstance(crash, CrashView) and "tainted (D" in repr(crash)
    assert not any(isinstance(x, ModuleErrorView) for x in lab.shown)
    assert lab.vm.is_running() and lab.vm.starts == 1


def test_a_vm_that_stopped_by_itself_is_restarted_with_a_note(lab: Lab) -> None:
    lab.run("%lsmod")
    lab.vm.running = False
    lab.run("%lsmod")
    assert repr(lab.shown[-1]).startswith("lab VM restarted (the previous one had stopped)")


def test_a_failed_boot_is_one_line_and_leaves_no_vm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path))
    lab = make_lab(tmp_path)
    killed = []

    def fail() -> None:
        raise BootTimeout("the lab VM (tcg) did not reach its guest agent within 60 s")

    lab.vm.start = fail  # type: ignore[method-assign]
    lab.vm.kill = lambda: killed.append(True)  # type: ignore[method-assign]
    capsys.readouterr()
    result = lab.run("%lsmod")
    assert isinstance(result.error_in_exec, BootTimeout)
    assert killed == [True]
    out = capsys.readouterr().out.strip()
    assert out.endswith("BootTimeout\x1b[0m: the lab VM (tcg) did not reach its guest agent "
                        "within 60 s")  # fmt: skip


def test_shutdown_stops_the_vm(lab: Lab) -> None:
    lab.run("%lsmod")
    assert lab.vm.is_running()
    lab.session.shutdown()
    assert not lab.vm.is_running()


def test_session_symbols_of_other_modules_only_when_exported(lab: Lab) -> None:
    lab.builder.exports["provider"] = "provider_fn"
    lab.run(f"%%kmodule provider\n{MODULE}")
    lab.run(f"%%kmodule other\n{MODULE}")
    lab.run(f"%%kmodule consumer\n{MODULE}")
    assert lab.builder.calls[-1]["extra_symbols"] == [
        lab.session.workspace.builds["provider"].build_dir
    ]


# -- progress and live displays -------------------------------------------------------------


def test_boot_progress_shows_a_widget_then_hides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[dict[str, Any], bool]] = []
    monkeypatch.setattr(
        progress, "_publish", lambda data, display_id, update: published.append((data, update))
    )
    with progress.BootProgress("booting", 1.0, lambda: "kernel booting", enabled=True) as bar:
        assert bar._widgets is not None
    first, last = published[0], published[-1]
    assert first[1] is False and first[0][progress.WIDGET_MIME]["model_id"]
    assert last[1] is True and last[0] == {progress.WIDGET_MIME: {
        "version_major": 2, "version_minor": 0, "model_id": ""}}  # fmt: skip
    assert all("text/plain" not in data for data, _ in published)


def test_progress_is_silent_outside_a_jupyter_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[Any] = []
    monkeypatch.setattr(progress, "_publish", lambda *a, **k: published.append(a))
    assert progress.has_frontend() is False
    with progress.BootProgress("booting", 1.0):
        pass
    with progress.LiveDisplay() as live:
        live.update("x")
    assert published == []


def test_live_display_starts_and_ends_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[tuple[dict[str, Any], bool]] = []
    monkeypatch.setattr(
        progress, "_publish", lambda data, display_id, update: published.append((data, update))
    )
    with progress.LiveDisplay(enabled=True) as live:
        live.update("some text")
    assert published[0] == ({"text/plain": ""}, False)
    assert published[1][0]["text/plain"] == "'some text'" and published[1][1] is True
    assert published[-1] == ({"text/plain": ""}, True)


def test_a_lazy_live_display_shows_nothing_until_its_first_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[tuple[dict[str, Any], bool]] = []
    monkeypatch.setattr(
        progress, "_publish", lambda data, display_id, update: published.append((data, update))
    )
    with progress.LiveDisplay(enabled=True, lazy=True):
        pass  # a guest command that ended within a second
    assert published == []
    with progress.LiveDisplay(enabled=True, lazy=True) as live:
        live.update("init has not returned after 1 s")
    assert published[0] == ({"text/plain": ""}, False)  # what nbval records: empty
    assert published[1][1] is True and published[-1] == ({"text/plain": ""}, True)


def test_session_start_kills_a_vm_whose_boot_was_interrupted() -> None:
    class Interrupted:
        killed = False
        boot_seconds = None
        accel = None

        def start(self) -> None:
            raise KeyboardInterrupt

        def kill(self) -> None:
            self.killed = True

        def is_running(self) -> bool:
            return False

    vm = Interrupted()
    session = LabSession(lambda _config: vm, show=lambda obj: None, progress=False)
    with pytest.raises(KeyboardInterrupt):
        _ = session.vm
    assert vm.killed


def test_vmsh_waits_for_an_oops_report_after_a_killed_command(lab: Lab) -> None:
    lab.session.vm  # noqa: B018

    def crash(text: str) -> ExecResult:
        lab.vm.console.add_crash("oops", "BUG: unable to handle page fault", "BUG: ...")
        return ExecResult(137, "", "Killed\n")

    lab.vm.shell = crash
    lab.run("%vmsh echo 1 > /proc/crashme")
    assert any(isinstance(x, CrashView) for x in lab.shown)


def test_labextension_installs_by_link_or_copy(tmp_path: Path) -> None:
    import json

    import kernelmagic
    from kernelmagic.notebook import labext

    built = json.loads((labext.BUILT / "package.json").read_text())
    assert built["name"] == labext.NAME
    load = built["jupyterlab"]["_build"]["load"]
    assert (labext.BUILT / load).is_file()
    linked = labext.install(tmp_path)
    assert linked.is_symlink() and (linked / "package.json").is_file()
    copied = labext.install(tmp_path, copy=True)
    assert not copied.is_symlink() and (copied / load).is_file()
    assert labext.install(tmp_path) == linked  # again, over the copy
    paths = kernelmagic._jupyter_labextension_paths()
    assert (Path(kernelmagic.__file__).parent / paths[0]["src"]) == labext.BUILT


def test_the_process_session_registers_its_workspace_for_the_course(lab: Lab) -> None:
    from kernelmagic import workspace
    from kernelmagic.course import check
    from kernelmagic.notebook.session import get_session, set_session

    old = set_session(lab.session)
    try:
        assert get_session() is lab.session
        assert workspace.current() is lab.session.workspace
        assert lab.vm.starts == 0
        assert check.lab_vm() is lab.vm  # a check cell boots the notebook's VM lazily
        assert lab.vm.starts == 1 and repr(lab.shown[-1]).startswith("lab VM ready")
    finally:
        set_session(old)
    assert workspace.current() is (old.workspace if old is not None else None)
