#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A batch of the lessons with 1 worker and with 2: time, throughput, memory per worker.

A script, not a test: prints one JSON object (progress on stderr). Each batch is
``kernelmagic batch run`` (:func:`kernelmagic.batch.run_batch`) on the lessons: every
notebook in its own Jupyter kernel and lab VM, papermill executing it. For each worker
count: the wall time of the whole batch, each lesson's time and result, notebooks per
hour, and the peak memory of one worker (the Jupyter kernel plus its QEMU, sampled once
a second). Module builds come from the build cache when an earlier run left them there
(``--warm-up`` runs the batch once first, uncounted, to make sure of it)::

    .venv/bin/python bench/bench_batch.py                         # every lesson, 1 then 2 workers
    .venv/bin/python bench/bench_batch.py --lessons 00,02,04 --workers 1,2,4 --json-out b.json
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vm import machine_info, print_report, progress

from kernelmagic.batch import BatchReport, Event, run_batch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def pick_lessons(spec: str | None) -> list[Path]:
    """Every lesson, or those whose names start with one of the comma-separated prefixes."""
    lessons = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not spec:
        return lessons
    prefixes = [p.strip() for p in spec.split(",") if p.strip()]
    chosen = [p for p in lessons if any(p.stem.startswith(prefix) for prefix in prefixes)]
    missing = [x for x in prefixes if not any(p.stem.startswith(x) for p in lessons)]
    if missing:
        raise SystemExit(f"no lesson starts with {', '.join(missing)}")
    return chosen


def summarise(report: BatchReport) -> dict[str, Any]:
    seconds = [r.seconds for r in report.notebooks]
    peaks = [r.peak_mib for r in report.notebooks if r.peak_mib]
    return {
        "workers": report.workers,
        "wall_seconds": round(report.seconds, 1),
        "summary": report.summary(),
        "all_passed": report.ok,
        "notebooks_per_hour": round(3600 * len(seconds) / report.seconds, 1),
        "notebook_seconds": {
            "sum": round(sum(seconds), 1),
            "median": round(statistics.median(seconds), 1),
            "max": round(max(seconds), 1),
        },
        "worker_peak_mib": {
            "max": round(max(peaks), 1) if peaks else None,
            "median": round(statistics.median(peaks), 1) if peaks else None,
            "kernel_max": round(max(r.peak_kernel_mib for r in report.notebooks), 1),
            "vm_max": round(max(r.peak_vm_mib for r in report.notebooks), 1),
        },
        "lessons": {
            r.name: {
                "status": r.status,
                "seconds": round(r.seconds, 1),
                "peak_mib": round(r.peak_mib, 1),
                "where": r.where(),
            }
            for r in report.notebooks
        },
    }


def say_finished(event: Event) -> None:
    if event.kind == "finished" and event.result is not None:
        progress(f"  {event.result.status:<9} {event.name} {event.result.seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", help="comma-separated name prefixes (default: all lessons)")
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per notebook, seconds")
    parser.add_argument(
        "--warm-up",
        action="store_true",
        help="run the batch once first, uncounted (fills the build cache)",
    )
    parser.add_argument("--keep", type=Path, help="keep the executed notebooks and reports here")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    lessons = pick_lessons(args.lessons)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    work = Path(tempfile.mkdtemp(prefix="kernelmagic-bench-batch-"))
    result: dict[str, Any] = {
        "machine": machine_info(),
        "lessons": [p.stem for p in lessons],
        "timeout": args.timeout,
        "runs": [],
    }
    try:
        if args.warm_up:
            progress(f"warm-up: {len(lessons)} lessons, {max(counts)} workers")
            run_batch(lessons, work / "warm-up", workers=max(counts), timeout=args.timeout)
        for workers in counts:
            progress(f"{len(lessons)} lessons with {workers} worker(s)")
            out = work / f"workers-{workers}"
            report = run_batch(lessons, out, workers=workers, timeout=args.timeout,
                               on_event=say_finished)  # fmt: skip
            result["runs"].append(summarise(report))
            if args.keep:
                shutil.copytree(out, args.keep / out.name, dirs_exist_ok=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = result["runs"]
    if len(runs) > 1 and runs[0]["workers"] == 1:
        result["speedup"] = {
            str(r["workers"]): round(runs[0]["wall_seconds"] / r["wall_seconds"], 2)
            for r in runs[1:]
        }
    print_report(result, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
