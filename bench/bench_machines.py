#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the lab machine's shape costs: one vCPU, two (the default), two with ``edu``.

A script, not a test: prints one JSON object (progress on stderr). For each machine it
times cold boots (``LabVM(snapshot=False)``) and starts from the saved booted state (the
first start, which boots and saves the state, is not counted), with QEMU's peak RSS
after each, and the guest's free memory once booted::

    .venv/bin/python bench/bench_machines.py [--repeat 3] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vm import _boots, figure, machine_info, print_report, progress

from kernelmagic.machine.config import MachineConfig
from kernelmagic.machine.vm import LabVM

MACHINES = {
    "1_vcpu": MachineConfig(cpus=1),
    "2_vcpus": MachineConfig(cpus=2),
    "2_vcpus_edu": MachineConfig(cpus=2, devices=("edu",)),
}


def bench_machine(config: MachineConfig, repeat: int, accel: str | None) -> dict[str, Any]:
    def make(snapshot: bool) -> LabVM:
        vm = LabVM.of(config)
        vm.requested_accel, vm.use_snapshot = accel, snapshot
        return vm

    cold = _boots(repeat, lambda: make(False), f"{config.describe()}: cold boot")
    _boots(1, lambda: make(True), f"{config.describe()}: boot that saves the state")
    warm = _boots(repeat, lambda: make(True), f"{config.describe()}: start from saved state")
    return {
        "machine": config.describe(),
        "accel": cold["accel"],
        "cold_boot_to_agent_ready": figure(cold["walls"]),
        "start_restored_to_agent_ready": figure(
            warm["walls"] if warm["restored"] == repeat else [],
            restored=f"{warm['restored']}/{repeat}",
        ),
        "qemu_peak_rss_cold_mib": figure(cold["rss"]),
        "qemu_peak_rss_restored_mib": figure(warm["rss"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each figure")
    parser.add_argument("--accel", choices=("tcg", "kvm"), help="default: the lab's own choice")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    report: dict[str, Any] = {"machine": machine_info(), "machines": {}}
    for name, config in MACHINES.items():
        progress(name)
        report["machines"][name] = bench_machine(config, args.repeat, args.accel)
    print_report(report, args.json_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
