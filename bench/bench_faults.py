# SPDX-License-Identifier: MIT
"""Figures for crashes, hangs and floods (issue 8), printed as one JSON object.

For each fault a learner's module can have, through the workspace (what a magic calls,
less IPython's own time): the seconds from the call to its error (or result), and to a
lab VM that is ready again. Then the insmod+rmmod round trip (median of 20), and a
50-round build -> insmod -> rmmod loop with QEMU's and this process's memory at its
start and end. Progress goes to stderr. It is a script, not a test: nothing fails when
a figure is slow.

    .venv/bin/python bench/bench_faults.py [--rounds 50] [--json-out faults.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernelmagic.errors import KernelCrashed, KernelMagicError, OperationStuck
from kernelmagic.guest import kmod
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM
from kernelmagic.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
STUCK = ROOT / "tests" / "data" / "stuck"
HELLO_C = (ROOT / "modules" / "hello.c").read_text()


def progress(message: str) -> None:
    print(f"bench_faults: {message}", file=sys.stderr, flush=True)


class Lab:
    """A workspace over one LabVM, started on first need (as ``kernelmagic run`` does)."""

    def __init__(self, cpus: int = 1) -> None:
        self.machine = LabVM(cpus=cpus)
        self.workspace = Workspace(self._provide)

    def _provide(self) -> LabVM:
        if not self.machine.is_running():
            self.machine.start()
            self.machine.wait_settled()
        return self.machine

    def add(self, name: str, text: str | None = None) -> None:
        self.workspace.set_main(
            name, text if text is not None else (STUCK / f"{name}.c").read_text()
        )
        self.workspace.build(name)

    def ready(self) -> float:
        """Seconds until the VM answers again (started anew if the fault ended it)."""
        started = time.monotonic()
        self.workspace.vm.exec(["true"], check=True)
        return time.monotonic() - started

    def close(self) -> None:
        self.machine.stop()


def timed(fn: Callable[[], Any]) -> tuple[float, Any, BaseException | None]:
    started = time.monotonic()
    try:
        result, error = fn(), None
    except KernelMagicError as exc:
        result, error = None, exc
    return time.monotonic() - started, result, error


def fault(
    lab: Lab, call: Callable[[], Any], then: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Time ``call`` to its error, then ``then`` (or a ping) to a VM that works again."""
    lab.ready()  # booted and settled before the clock starts
    seconds, result, error = timed(call)
    out: dict[str, Any] = {
        "to_error_seconds": round(seconds, 3),
        "error": type(error).__name__ if error else None,
        "message": str(error)[:300] if error else None,
    }
    if isinstance(error, KernelCrashed) and error.crash is not None:
        out["crash"] = {"kind": error.crash.kind, "function": error.crash.function,
                        "module": error.crash.module}  # fmt: skip
    if isinstance(error, OperationStuck):
        out["restarted"] = error.restarted
        out["stack_top"] = error.stack[:2]
    if result is not None and hasattr(result, "omitted"):
        out["records_kept"] = len(result.operation.log)
        out["records_omitted"] = result.omitted
    ready_seconds, _, ready_error = timed(then or lab.ready)
    out["then_ready_seconds"] = round(ready_seconds, 3)
    out["to_ready_vm_seconds"] = round(seconds + ready_seconds, 3)
    if ready_error is not None:
        out["then_error"] = str(ready_error)[:200]
    return out


def bench_faults() -> dict[str, Any]:
    faults: dict[str, Any] = {}

    def run(name: str, cpus: int, fn: Callable[[Lab], dict[str, Any]]) -> None:
        progress(f"{name} ({cpus} vCPU)")
        lab = Lab(cpus)
        try:
            faults[name] = {"cpus": cpus, **fn(lab)}
        finally:
            lab.close()

    def null_init(lab: Lab) -> dict[str, Any]:
        lab.add("oopsinit")
        return fault(lab, lambda: lab.workspace.load("oopsinit"),
                     lambda: lab.workspace.load("oopsinit", ["fixed=1"]))  # fmt: skip

    def oops_exit(lab: Lab) -> dict[str, Any]:
        lab.add("oopsexit")
        lab.ready()
        lab.workspace.load("oopsexit")
        return fault(lab, lambda: lab.workspace.unload("oopsexit"),
                     lambda: lab.workspace.load("oopsexit"))  # fmt: skip

    def spinning(name: str) -> Callable[[Lab], dict[str, Any]]:
        def measure(lab: Lab) -> dict[str, Any]:
            lab.add(name)
            return fault(lab, lambda: lab.workspace.load(name))

        return measure

    def hang_init(lab: Lab) -> dict[str, Any]:
        lab.add("hang")
        return fault(lab, lambda: lab.workspace.load("hang"))

    def hang_exit(lab: Lab) -> dict[str, Any]:
        lab.add("hangexit")
        lab.ready()
        lab.workspace.load("hangexit")
        return fault(lab, lambda: lab.workspace.unload("hangexit"))

    def flood(lines: int) -> Callable[[Lab], dict[str, Any]]:
        def measure(lab: Lab) -> dict[str, Any]:
            lab.add("flood")
            rss_before = host_rss_mib()
            out = fault(lab, lambda: lab.workspace.load("flood", [f"lines={lines}"]),
                        lambda: lab.workspace.unload("flood"))  # fmt: skip
            out["host_rss_mib_before_after"] = [rss_before, host_rss_mib()]
            return out

        return measure

    run("null_deref_in_init", 1, null_init)
    run("oops_in_exit", 1, oops_exit)
    for cpus in (1, 2):
        run(f"busy_loop_in_init_{cpus}cpu", cpus, spinning("spin"))
        run(f"busy_loop_irqs_off_in_init_{cpus}cpu", cpus, spinning("spinirq"))
    run("msleep_loop_in_init", 1, hang_init)
    run("msleep_loop_in_exit", 1, hang_exit)
    run("flood_100k_lines", 1, flood(100_000))
    run("flood_1m_lines", 1, flood(1_000_000))
    return faults


def bench_round_trip(repeat: int) -> dict[str, Any]:
    lab = Lab()
    try:
        lab.add("hello", HELLO_C)
        lab.ready()
        ko = lab.workspace.builds["hello"].ko_path
        vm = lab.machine
        kmod.insmod(vm, ko)  # the first load mounts the share: not counted
        kmod.rmmod(vm, "hello")
        kmod_samples, ws_samples = [], []
        for _ in range(repeat):
            started = time.monotonic()
            kmod.insmod(vm, ko, ["name=bench"])
            kmod.rmmod(vm, "hello")
            kmod_samples.append(time.monotonic() - started)
            started = time.monotonic()
            lab.workspace.load("hello", ["name=bench"])
            lab.workspace.unload("hello")
            ws_samples.append(time.monotonic() - started)
        return {"kmod": summary(kmod_samples), "workspace": summary(ws_samples),
                "target_seconds": 0.14}  # fmt: skip
    finally:
        lab.close()


def bench_loop(rounds: int) -> dict[str, Any]:
    """build (a changed source each round) -> insmod -> rmmod, ``rounds`` times."""
    lab = Lab()
    builds: list[Path] = []
    try:
        lab.ready()
        start = {"qemu_rss_mib": qemu_rss_mib(lab.machine), "host_rss_mib": host_rss_mib()}
        samples = []
        for i in range(rounds):
            source = HELLO_C + f"/* round {i} {secrets.token_hex(4)} */\n"
            started = time.monotonic()
            lab.workspace.set_main("bench_loop", source)
            builds.append(lab.workspace.build("bench_loop").build_dir)
            lab.workspace.load("bench_loop", ["name=loop"])
            lab.workspace.unload("bench_loop")
            samples.append(time.monotonic() - started)
        end = {"qemu_rss_mib": qemu_rss_mib(lab.machine), "host_rss_mib": host_rss_mib()}
        return {"rounds": rounds, "round_seconds": summary(samples), "start": start, "end": end}
    finally:
        lab.close()
        for folder in builds:  # each round's build is new: do not leave 50 in the cache
            shutil.rmtree(folder, ignore_errors=True)
            Path(f"{folder}.lock").unlink(missing_ok=True)


def summary(samples: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(samples), 4), "min": round(min(samples), 4),
            "max": round(max(samples), 4), "n": len(samples)}  # fmt: skip


def host_rss_mib() -> float:
    """This process's resident memory now (VmRSS)."""
    match = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    if match:
        return round(int(match.group(1)) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def qemu_rss_mib(vm: LabVM) -> float | None:
    pid = vm.status().pid
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return round(int(match.group(1)) / 1024, 1) if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="rounds of the build loop")
    parser.add_argument("--repeat", type=int, default=20, help="insmod+rmmod round trips")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    bundle = Bundle.load()
    report: dict[str, Any] = {
        "kernel_release": bundle.kernel_release,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    report["faults"] = bench_faults()
    progress("insmod+rmmod round trip")
    report["insmod_rmmod"] = bench_round_trip(args.repeat)
    progress(f"{args.rounds}-round build -> insmod -> rmmod loop")
    report["loop"] = bench_loop(args.rounds)
    report["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
