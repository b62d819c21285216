# SPDX-License-Identifier: MIT
"""The lab VM for real: boot under TCG (or KVM), build hello, load it, read the log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, ModuleError, VMNotRunning
from kernelmagic.guest import kmod
from kernelmagic.kbuild.builder import build_module
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration

# The course's own reference module: what the lessons teach is what is tested here.
HELLO_C = (Path(__file__).resolve().parents[2] / "modules" / "hello.c").read_text()


@pytest.fixture(scope="module")
def hello(bundle: Bundle):
    return build_module("hello", {"hello.c": HELLO_C})


def _qemu_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def test_agent_answers_and_runs_argv(lab_vm: LabVM, bundle: Bundle) -> None:
    code, out, err = lab_vm.exec(["uname", "-r"])
    assert (code, err) == (0, "")
    assert out.strip() == bundle.kernel_release
    # An argument with spaces and shell characters arrives as one argv element.
    code, out, _ = lab_vm.exec(["echo", "a b; $(reboot)"])
    assert out == "a b; $(reboot)\n"
    assert lab_vm.exec(["false"]).exit_code == 1


def test_boot_uses_nokaslr_and_records_console(lab_vm: LabVM) -> None:
    cmdline = lab_vm.exec(["cat", "/proc/cmdline"]).stdout
    assert "nokaslr" in cmdline
    assert "console=ttyS0" in cmdline
    status = lab_vm.status()
    assert status.running and status.accel in ("kvm", "tcg") and status.accel_reason
    assert status.runtime_dir and (Path(status.runtime_dir) / "console.log").exists()


def test_hello_with_spaced_parameter(lab_vm: LabVM, hello) -> None:
    loaded = kmod.insmod(lab_vm, hello.ko_path, ["name=Linux Enthusiast"])
    assert "Hello, Linux Enthusiast!" in loaded.log_text
    assert "unknown parameter" not in loaded.log_text
    assert "hello" in [m.name for m in kmod.lsmod(lab_vm)]
    value = lab_vm.exec(["cat", "/sys/module/hello/parameters/name"]).stdout
    assert value.strip() == "Linux Enthusiast"
    # Loading it again is refused with a clear "already loaded" error.
    with pytest.raises(ModuleError) as excinfo:
        kmod.insmod(lab_vm, hello.ko_path)
    assert excinfo.value.errno_name == "EEXIST"
    assert "already loaded" in excinfo.value.hint
    unloaded = kmod.rmmod(lab_vm, "hello")
    assert "Goodbye, Linux Enthusiast!" in unloaded.log_text
    assert "hello" not in [m.name for m in kmod.lsmod(lab_vm)]


def test_log_holds_only_lines_of_the_operation(lab_vm: LabVM, hello) -> None:
    first = kmod.insmod(lab_vm, hello.ko_path, ["name=first"])
    kmod.rmmod(lab_vm, "hello")
    second = kmod.insmod(lab_vm, hello.ko_path, ["name=second"])
    kmod.rmmod(lab_vm, "hello")
    assert "Hello, first!" in first.log_text and "second" not in first.log_text
    assert [r.message for r in second.log] == ["Hello, second!"]


def test_c_error_names_the_line(bundle: Bundle) -> None:
    statement = 'pr_info("Hello, %s!\\n", name);'
    line = HELLO_C.splitlines().index("\t" + statement) + 1
    broken = HELLO_C.replace(statement, statement.rstrip(";"))
    with pytest.raises(BuildError) as excinfo:
        build_module("hello", {"hello.c": broken})
    errors = [d for d in excinfo.value.diagnostics if d.severity == "error"]
    assert errors and errors[0].file == "hello.c"
    assert errors[0].line in (line, line + 1)  # the statement, or the next line gcc names


def test_real_modprobe_resolves_dependencies(lab_vm: LabVM) -> None:
    loaded = kmod.modprobe(lab_vm, "bridge")
    names = {m.name: m for m in kmod.lsmod(lab_vm)}
    assert {"bridge", "stp", "llc"} <= set(names)
    assert "bridge" in names["stp"].used_by
    with pytest.raises(ModuleError) as excinfo:
        kmod.rmmod(lab_vm, "stp")
    assert "in use" in str(excinfo.value)
    kmod.modprobe(lab_vm, "bridge", remove=True)
    left = {m.name for m in kmod.lsmod(lab_vm)}
    assert not {"bridge", "stp"} & left
    # kmod 30 checks llc's use count before stp is gone, so llc may stay loaded.
    if "llc" in left:
        kmod.rmmod(lab_vm, "llc")
    assert "llc" not in {m.name for m in kmod.lsmod(lab_vm)}
    assert loaded.module == "bridge"


def test_stop_leaves_nothing_behind(bundle: Bundle) -> None:
    before = _qemu_pids()
    vm = LabVM(bundle)
    vm.start()
    runtime = Path(vm.status().runtime_dir or "")
    pid = vm.status().pid
    assert runtime.is_dir() and oct(runtime.stat().st_mode & 0o777) == "0o700"
    assert pid in _qemu_pids()
    vm.stop()
    vm.stop()  # safe twice
    assert not runtime.exists()
    assert pid not in _qemu_pids()
    assert _qemu_pids() <= before
    with pytest.raises(VMNotRunning):
        vm.exec(["true"])


def test_kill_and_restart(bundle: Bundle) -> None:
    vm = LabVM(bundle)
    try:
        vm.start()
        first = vm.status().pid
        vm.restart()
        second = vm.status().pid
        assert first != second and vm.exec(["true"]).exit_code == 0
        vm.kill()
        assert not vm.is_running()
    finally:
        vm.stop()


def test_qemu_and_runtime_dir_die_with_their_parent(bundle: Bundle, tmp_path: Path) -> None:
    """A Python process killed with SIGKILL (as Jupyter kills a kernel) leaves nothing."""
    script = tmp_path / "orphan.py"
    script.write_text(
        "import os\n"
        "from kernelmagic.machine.vm import LabVM\n"
        "vm = LabVM(); vm.start()\n"
        "print(vm.status().pid, vm.status().runtime_dir, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    pid_text, runtime = proc.stdout.split()
    pid = int(pid_text)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (Path(f"/proc/{pid}").exists() or Path(runtime).exists()):
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "QEMU outlived its parent"
    assert not Path(runtime).exists(), "the runtime dir outlived its process"


def test_cli_run_end_to_end(tmp_path: Path, bundle: Bundle) -> None:
    source = tmp_path / "hello-world.c"
    source.write_text(HELLO_C)
    proc = subprocess.run(
        [sys.executable, "-m", "kernelmagic.cli", "run", str(source), "name=Linux Enthusiast"],
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    hello_at = lines.index("Hello, Linux Enthusiast!")
    assert lines.index("Goodbye, Linux Enthusiast!") > hello_at
    assert any(line.startswith("# insmod hello_world") for line in lines)


def test_cli_run_exit_codes(tmp_path: Path, bundle: Bundle) -> None:
    broken = tmp_path / "broken.c"
    broken.write_text(HELLO_C.replace("return 0;", "return 0"))
    proc = subprocess.run([sys.executable, "-m", "kernelmagic.cli", "run", str(broken)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 3
    assert "broken.c:" in proc.stderr and "error" in proc.stderr
    failing = tmp_path / "failing.c"
    failing.write_text(HELLO_C.replace("return 0;", "return -ENOMEM;"))
    proc = subprocess.run([sys.executable, "-m", "kernelmagic.cli", "run", str(failing)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 4
    assert "ENOMEM" in proc.stderr


def test_saved_state_restores_and_a_bad_one_is_replaced(bundle: Bundle, hello) -> None:
    """The first boot of a configuration saves its state; the next start restores it."""
    config = {"memory_mb": 320}  # a configuration no other test uses
    vm = LabVM(bundle, **config)
    try:
        state = None
        vm.start()
        state = vm._state_path()
        assert state is not None and state.is_file()
        vm.stop()
        # A damaged state is dropped and replaced by a cold boot, not an error.
        state.write_bytes(b"not a QEMU migration stream")
        vm.start()
        assert not vm.restored
        assert state.stat().st_size > 1_000_000
        vm.stop()
        vm.start()
        assert vm.restored
        # After a restore the share mounts and modules load from it.
        loaded = kmod.insmod(vm, hello.ko_path, ["name=restored"])
        assert "Hello, restored!" in loaded.log_text
        kmod.rmmod(vm, "hello")
        guest_now = int(vm.exec(["date", "+%s"]).stdout)
        assert abs(guest_now - int(time.time())) < 30, "the restored guest's clock was not set"
    finally:
        vm.stop()
        if state is not None:
            state.unlink(missing_ok=True)


def test_cold_tcg_boot_without_snapshot(bundle: Bundle) -> None:
    """TCG always works (KVM hosts included): the fallback every machine relies on."""
    with LabVM(bundle, snapshot=False, accel="tcg") as vm:
        assert not vm.restored
        assert vm.status().accel == "tcg"
        vm.wait_settled()
        modules = {m.name for m in kmod.lsmod(vm)}
        assert {"9p", "9pnet_virtio", "virtio_pci"} <= modules
