# SPDX-License-Identifier: MIT
"""cli/app.py: usage errors, help examples, cache clean, and `run`'s exit codes with the
build, the VM and kmod replaced by fakes (`run` drives a Workspace over the fake guest)."""

from __future__ import annotations

import types
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from kernelmagic.cli import app as cli
from kernelmagic.errors import BuildError, BundleBuildError, ModuleError, OperationStuck
from kernelmagic.guest import kmod
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.kmod import ModuleOperation
from kernelmagic.machine import vm as kvm
from tests.doubles.fake_lab import FakeLabVM, write_ko


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


def test_run_not_c_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "x.txt"]) == cli.EXIT_USAGE == 2
    err = capsys.readouterr().err
    assert err == "kernelmagic: x.txt is not a .c file\n"


def test_build_missing_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothere.c"
    assert cli.main(["build", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_build_folder_without_c(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "only.h").write_text("")
    assert cli.main(["build", str(tmp_path)]) == 2
    assert "has no .c file" in capsys.readouterr().err


def test_no_command_is_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2


@pytest.mark.parametrize("command", sorted(cli._EXAMPLES))
def test_help_shows_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main([*command.split(), "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"kernelmagic {command}" in out
    assert "example" in out


def test_help_example_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert 'kernelmagic run modules/hello.c name="Linux Enthusiast"' in capsys.readouterr().out


def test_cache_clean(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "bundle" / "6.1.0-56-amd64").mkdir(parents=True)
    (home / "bundle" / "6.1.0-56-amd64" / "vmlinux").write_bytes(b"\0" * 3_000_000)
    (home / "debs").mkdir()
    (home / "debs" / "kmod.deb").write_bytes(b"\0" * 1_000_000)
    assert cli.main(["cache", "clean"]) == 0
    out = capsys.readouterr().out
    assert not home.exists()
    assert f"removed {home} (4 MB)" in out
    assert cli.main(["cache", "clean"]) == 0
    assert "nothing to clean" in capsys.readouterr().out


def test_vm_build_failure_is_setup_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise BundleBuildError("apt offers no kernel 6.1.0-1-amd64")

    monkeypatch.setattr("kernelmagic.machine.bundle.build_bundle", fail)
    assert cli.main(["vm", "build", "--kernel-version", "6.1.0-1-amd64"]) == cli.EXIT_SETUP
    assert capsys.readouterr().err == "kernelmagic: apt offers no kernel 6.1.0-1-amd64\n"


# -- build and run with fakes --------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "hello-world.c"
    path.write_text('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    return path


KO = "out/hello_world.ko"  # under tmp_path


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """Replace kbuild (for `build`, and for `run`'s workspace): record the call, return a
    result with a .ko whose .modinfo names the module."""
    calls: list[tuple[str, dict[str, str]]] = []
    ko = tmp_path / KO
    ko.parent.mkdir()
    write_ko(ko, ["name=hello_world"])

    def fake_build(name: str, sources: dict[str, str], **kwargs: object) -> object:
        calls.append((name, sources))
        return types.SimpleNamespace(ko_path=ko, diagnostics=[], duration=0.5, cached=True)

    monkeypatch.setattr("kernelmagic.kbuild.builder.build_module", fake_build)
    monkeypatch.setattr("kernelmagic.workspace.core.build_module", fake_build)
    return calls


class CliVM(FakeLabVM):
    """The simulated guest, started and stopped as ``with LabVM() as vm`` does."""

    instances: ClassVar[list[CliVM]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(Path("/nonexistent"))  # kmod is faked: nothing reads the share
        self.entered = self.exited = False
        CliVM.instances.append(self)

    def __enter__(self) -> CliVM:
        self.entered = True
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.exited = True
        self.stop()


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> list[CliVM]:
    CliVM.instances = []
    monkeypatch.setattr(kvm, "LabVM", CliVM)
    return CliVM.instances


def _op(action: str, *messages: str) -> ModuleOperation:
    records = [LogRecord(6, 0, 1.0, m) for m in messages]
    return ModuleOperation(action, "hello_world", [action], records)


def test_build_writes_output(
    source: Path, built: list[tuple[str, dict[str, str]]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "result.ko"
    assert cli.main(["build", str(source), "-o", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / KO).read_bytes()
    assert built[0][0] == "hello_world" and list(built[0][1]) == ["hello_world.c"]
    assert "(from cache)" in capsys.readouterr().out


def test_run_ok(
    source: Path, built: object, lab: list[CliVM], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seen: dict[str, object] = {}

    def insmod(vm: object, ko: Path, params: list[str], **kwargs: object) -> ModuleOperation:
        seen["insmod"] = (vm, ko.name, params)
        return _op("insmod", "Hello, Linux Enthusiast!")

    def rmmod(vm: object, name: str, **kwargs: object) -> ModuleOperation:
        seen["rmmod"] = name
        return _op("rmmod", "Goodbye")

    monkeypatch.setattr(kmod, "insmod", insmod)
    monkeypatch.setattr(kmod, "rmmod", rmmod)
    assert cli.main(["run", str(source), "name=Linux Enthusiast"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        '# insmod hello_world name="Linux Enthusiast"',
        "Hello, Linux Enthusiast!",
        "# rmmod hello_world",
        "Goodbye",
    ]
    assert seen["insmod"] == (lab[0], "hello_world.ko", ['name="Linux Enthusiast"'])
    assert seen["rmmod"] == "hello_world"
    assert lab[0].entered and lab[0].exited


def test_run_build_failure(
    source: Path, lab: list[CliVM], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def fail(*args: object, **kwargs: object) -> None:
        raise BuildError("build failed: hello_world.c:2:1: error: expected ';'", ["diag line"])

    monkeypatch.setattr("kernelmagic.workspace.core.build_module", fail)
    assert cli.main(["run", str(source)]) == cli.EXIT_BUILD == 3
    err = capsys.readouterr().err
    assert "diag line" in err and "build failed" in err
    assert lab == []  # no VM for a module that did not build


def test_run_load_failure(
    source: Path, built: object, lab: list[CliVM], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def insmod(*args: object, **kwargs: object) -> None:
        raise ModuleError(
            "insmod hello_world failed: could not insert module: File exists",
            hint="hello_world is already loaded", log=["some record"],
        )  # fmt: skip

    def rmmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing to unload")

    monkeypatch.setattr(kmod, "insmod", insmod)
    monkeypatch.setattr(kmod, "rmmod", rmmod)
    assert cli.main(["run", str(source)]) == cli.EXIT_LOAD == 4
    err = capsys.readouterr().err
    assert "File exists" in err and "  some record" in err
    assert "hint: hello_world is already loaded" in err
    assert lab[0].exited


def test_run_unload_failure(
    source: Path, built: object, lab: list[CliVM], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def rmmod(*args: object, **kwargs: object) -> None:
        raise ModuleError("rmmod hello_world failed: Module hello_world is in use")

    monkeypatch.setattr(kmod, "insmod", lambda *args, **kwargs: _op("insmod"))
    monkeypatch.setattr(kmod, "rmmod", rmmod)
    assert cli.main(["run", str(source)]) == cli.EXIT_UNLOAD == 5
    assert "is in use" in capsys.readouterr().err
    assert lab[0].exited


def test_run_bad_parameter(source: Path, built: object, lab: list[CliVM]) -> None:
    assert cli.main(["run", str(source), 'name=say "hi"']) == 2
    assert lab == []


def test_run_with_a_deadline_reports_a_stuck_init(
    source: Path, built: object, lab: list[CliVM], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seen: dict[str, object] = {}

    def insmod(*args: object, timeout: float, progress: Callable[[str], None],
               **kwargs: object) -> None:  # fmt: skip
        seen["timeout"] = timeout
        progress("insmod hello_world: init has not returned after 1 s")
        raise OperationStuck(
            "insmod hello_world: the module's init function did not return within 3 s; "
            "it is stuck in hello_init+0x1b/0x1000 [hello_world]. ... the lab VM must be "
            "restarted.",
            stack=["msleep+0x29/0x40", "hello_init+0x1b/0x1000 [hello_world]"],
            state="D (disk sleep)", module="hello_world",
        )  # fmt: skip

    monkeypatch.setattr(kmod, "insmod", insmod)
    assert cli.main(["run", str(source), "--timeout", "3"]) == cli.EXIT_LOAD
    err = capsys.readouterr().err
    assert seen["timeout"] == 3.0
    assert "kernelmagic: insmod hello_world: init has not returned after 1 s" in err
    assert "stuck in hello_init+0x1b/0x1000 [hello_world]" in err
    assert "the lab VM was restarted: modules loaded before" in err  # the workspace did
    # The stuck task as a notebook shows it: state, hint and its stack, kernel frames by name.
    assert "  state  D (disk sleep)\n" in err
    assert "  kernel stack (most recent call first):\n    msleep\n    hello_init+0x1b" in err
    assert lab[0].starts == 2 and lab[0].exited
