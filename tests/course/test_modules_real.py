# SPDX-License-Identifier: MIT
"""Every reference module in modules/ builds, loads and unloads twice in the lab VM.

As lkmpg's CI does for its examples: a module that only compiles proves little; one that
loads and unloads twice cleanly, with nothing in the kernel log beyond the expected
"unsigned/out-of-tree module" taint lines, is one a lesson can rely on. The modules in
modules/faults/ must each show the fault they exist for.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, KernelCrashed, KernelMagicError, ModuleError
from kernelmagic.guest import kmod
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration

MODULES = Path(__file__).resolve().parents[2] / "modules"
REFERENCE = sorted(p for p in MODULES.glob("*.c"))
# Modules that need another of ours loaded first (provider -> consumer).
NEEDS = {"consumer": "provider", "nongpl": "provider", "borrower": "provider"}
# Modules that need one of the kernel's modules loaded first (insmod does not resolve it).
KERNEL_NEEDS = {"checksum": "crc16"}
# Parameters that make a module print its interesting part; defaults must work too.
PARAMS: dict[str, list[str]] = {
    "hello": ['name="Linux Enthusiast"'],
    "repeat": ["word=again", "times=2"],
}
# Lines the kernel legitimately logs on a load: the first unsigned, out-of-tree module
# taints the kernel; debugging.ko prints at every level on purpose.
EXPECTED = re.compile(
    r"loading out-of-tree module taints kernel"
    r"|module verification failed: signature and/or required key missing"
    r"|module license 'Proprietary' taints kernel"
    r"|Disabling lock debugging due to kernel taint"
)
BAD = re.compile(r"^WARNING:|^BUG:|^Oops|Call Trace|RIP:|unknown parameter|Unknown symbol", re.M)


def _build(path: Path, built: dict[str, BuildResult]) -> BuildResult:
    name = path.stem
    extra = []
    if name in NEEDS:
        dep = built.get(NEEDS[name]) or _build(MODULES / f"{NEEDS[name]}.c", built)
        built[dep.name] = dep
        extra = [dep.build_dir / "Module.symvers"]
    result = build_module(name, {path.name: path.read_text()}, extra_symbols=extra)
    built[name] = result
    return result


@pytest.fixture(scope="module")
def built(bundle: Bundle) -> dict[str, BuildResult]:
    """Every reference module, built; without a bundle the ``bundle`` fixture fails."""
    results: dict[str, BuildResult] = {}
    for path in REFERENCE:
        _build(path, results)
    return results


@pytest.fixture(scope="module")
def vm(lab_vm: LabVM) -> LabVM:
    return lab_vm


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_builds_without_warnings(path: Path, built: dict[str, BuildResult]) -> None:
    result = built[path.stem]
    assert result.ko_path.is_file()
    assert not result.warnings, [str(w) for w in result.warnings]


@pytest.mark.parametrize("path", REFERENCE, ids=[p.stem for p in REFERENCE])
def test_loads_and_unloads_twice(path: Path, built: dict[str, BuildResult], vm: LabVM) -> None:
    name = path.stem
    dep = NEEDS.get(name)
    kernel_dep = KERNEL_NEEDS.get(name)
    warnings_before = len(vm.console.warnings)
    if dep:
        kmod.insmod(vm, built[dep].ko_path)
    if kernel_dep:
        kmod.modprobe(vm, kernel_dep)
    try:
        for _ in range(2):
            loaded = kmod.insmod(vm, built[name].ko_path, PARAMS.get(name, []))
            assert kmod.is_loaded(vm, name)
            unloaded = kmod.rmmod(vm, name)
            assert not kmod.is_loaded(vm, name)
            for record in loaded.log + unloaded.log:
                if EXPECTED.search(record.message):
                    continue
                assert not BAD.search(record.message), record.message
    finally:
        if dep:
            kmod.rmmod(vm, dep)
        if kernel_dep:
            kmod.modprobe(vm, kernel_dep, remove=True)
    assert len(vm.console.warnings) == warnings_before
    assert vm.crash is None


def test_hello_greets_a_spaced_name(built: dict[str, BuildResult], vm: LabVM) -> None:
    loaded = kmod.insmod(vm, built["hello"].ko_path, ["name=Linux Enthusiast"])
    unloaded = kmod.rmmod(vm, "hello")
    assert "Hello, Linux Enthusiast!" in loaded.log_text
    assert "Goodbye, Linux Enthusiast!" in unloaded.log_text


# -- faults --------------------------------------------------------------------------


def _fault(name: str) -> BuildResult:
    path = MODULES / "faults" / f"{name}.c"
    return build_module(name, {path.name: path.read_text()})


def test_greedy_fails_modpost_for_a_gpl_only_symbol(built: dict[str, BuildResult]) -> None:
    provider_symbols = built["provider"].build_dir / "Module.symvers"
    with pytest.raises(BuildError) as info:
        build_module("greedy", {"greedy.c": (MODULES / "faults" / "greedy.c").read_text()},
              extra_symbols=[provider_symbols])  # fmt: skip
    assert "GPL-incompatible module greedy.ko uses GPL-only symbol 'provider_secret'" in str(
        info.value
    )


def test_failinit_returns_enomem(vm: LabVM) -> None:
    with pytest.raises(ModuleError) as info:
        kmod.insmod(vm, _fault("failinit").ko_path)
    assert info.value.errno_name == "ENOMEM"
    assert not kmod.is_loaded(vm, "failinit")
    assert "failinit: pretending an allocation failed" in info.value.log


def test_warn_reports_a_warning(vm: LabVM) -> None:
    before = len(vm.console.warnings)
    loaded = kmod.insmod(vm, _fault("warn").ko_path)
    kmod.rmmod(vm, "warn")
    assert "warn: budget is 0" in loaded.log_text
    assert any(r.message.startswith("WARNING:") for r in loaded.log)
    vm.console.wait_for("end trace", timeout=10)
    new = vm.console.warnings[before:]
    assert new and new[-1].module == "warn", new


def test_leak_stays_in_slabinfo(vm: LabVM) -> None:
    kmod.insmod(vm, _fault("leak").ko_path, ["count=77"])
    kmod.rmmod(vm, "leak")
    slabinfo = vm.exec(["cat", "/proc/slabinfo"], check=True).stdout
    line = next(line for line in slabinfo.splitlines() if line.startswith("leak_obj "))
    active = int(line.split()[1])
    assert active >= 77


def test_noexit_is_permanent_and_only_a_forced_rmmod_removes_it(vm: LabVM) -> None:
    kmod.insmod(vm, _fault("noexit").ko_path)
    modules = vm.exec(["cat", "/proc/modules"], check=True).stdout
    line = next(line for line in modules.splitlines() if line.startswith("noexit "))
    assert " [permanent], Live " in line
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(vm, "noexit")
    assert info.value.errno_name == "EBUSY"
    kmod.rmmod(vm, "noexit", force=True)
    assert not kmod.is_loaded(vm, "noexit")
    tainted = int(vm.exec(["cat", "/proc/sys/kernel/tainted"], check=True).stdout)
    assert tainted & 8  # R: a module was force-unloaded


def test_giveup_panics_and_a_restart_brings_a_clean_kernel(vm: LabVM) -> None:
    with pytest.raises(KernelCrashed) as info:
        kmod.insmod(vm, _fault("giveup").ko_path)
    crash = info.value.crash or vm.crash
    assert crash is not None and crash.kind == "panic"
    assert "Kernel panic - not syncing: giveup: a module decided the machine must stop" in (
        crash.report
    )
    vm.restart()
    assert vm.exec(["cat", "/proc/sys/kernel/tainted"], check=True).stdout.strip() == "0"


def test_oops_names_module_and_function(vm: LabVM) -> None:
    """Runs last in this file: it leaves the kernel tainted, so the VM restarts after."""
    mark = vm.console.mark()
    with pytest.raises(KernelMagicError):
        kmod.insmod(vm, _fault("oops").ko_path)
    vm.console.wait_for("end trace", timeout=20, since=mark)
    crashes = vm.console.crashes_since(mark)
    assert crashes, vm.console.since(mark)
    report = crashes[0]
    assert report.kind == "oops"
    assert report.module == "oops"
    assert report.function == "oops_mod_init"
    vm.restart()
    assert vm.crash is None
    assert vm.exec(["cat", "/proc/sys/kernel/tainted"], check=True).stdout.strip() == "0"
