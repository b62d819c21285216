#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What grading costs: the build sandbox, and nbgrader autograde of a class of ten.

A script, not a test: prints one JSON object (progress on stderr)::

    .venv/bin/python bench/bench_grading.py [--lesson 02_hello_kernel] [--builds 5]
                                            [--json-out FILE]

- ``sandbox``: kbuild of a small module and gcc of a small user program, each with a
  fresh nonce (no cache), outside and inside the grading sandbox (bubblewrap), in turns;
  and ``true`` alone, for the sandbox's fixed cost.
- ``autograde``: ``kernelmagic course nbgrader`` for one lesson, ``nbgrader
  generate_assignment``, then one ``nbgrader autograde`` of ten synthetic submissions
  made from the lesson's solution: six correct, one that does not build, one that
  oopses in init, one that hangs in init, one that is not JSON. Every process of the
  run is sampled every 0.1 s: per submission, the seconds its kernel lived and the peak
  resident memory of the kernel plus its QEMU; and nbgrader's own peak.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat
from bench_vm import figure, machine_info, print_report, progress

from kernelmagic.course.grading.coursedir import write_course
from kernelmagic.kbuild import sandbox
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.userprog import build_user_program

ROOT = Path(__file__).resolve().parents[1]
MODULE = '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n/* nonce {} */\n'
PROGRAM = '#include <stdio.h>\nint main(void) {{ puts("hi"); return 0; }}\n/* nonce {} */\n'
CLASS = ["ok1", "ok2", "ok3", "ok4", "ok5", "ok6", "x_build", "x_oops", "x_hang", "x_json"]


# -- the sandbox -----------------------------------------------------------------------


def bench_sandbox(builds: int, root: Path) -> dict[str, Any]:
    """Seconds per build outside and inside the sandbox, alternating."""
    times: dict[str, list[float]] = {"module": [], "module_sandboxed": [],
                                     "program": [], "program_sandboxed": []}  # fmt: skip
    for number in range(builds):
        for sandboxed in (False, True) if number % 2 else (True, False):
            progress(f"sandbox: builds {number + 1}/{builds} (sandboxed={sandboxed})")
            suffix = "_sandboxed" if sandboxed else ""
            with _grading(sandboxed):
                start = time.perf_counter()
                build_module("bench_box", {"bench_box.c": MODULE.format(secrets.token_hex(8))},
                             builds_root=root)  # fmt: skip
                times["module" + suffix].append(time.perf_counter() - start)
                start = time.perf_counter()
                build_user_program("bench_box", PROGRAM.format(secrets.token_hex(8)),
                                   builds_root=root)  # fmt: skip
                times["program" + suffix].append(time.perf_counter() - start)
    argv, env = sandbox.sandboxed(["true"], writable=root)
    for _ in range(builds * 4):
        for key, command in (("true", ["true"]), ("true_sandboxed", argv)):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True)
            times.setdefault(key, []).append(time.perf_counter() - start)
    out = {key: figure(values) for key, values in times.items()}
    for kind in ("module", "program", "true"):
        plain, boxed = out[kind]["median"], out[f"{kind}_sandboxed"]["median"]
        out[f"{kind}_sandbox_cost_seconds"] = round(boxed - plain, 4)
    return out


@contextlib.contextmanager
def _grading(on: bool):  # type: ignore[no-untyped-def]
    old = os.environ.get(sandbox.GRADING_ENV)
    os.environ[sandbox.GRADING_ENV] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(sandbox.GRADING_ENV, None)
        else:
            os.environ[sandbox.GRADING_ENV] = old


# -- the class -------------------------------------------------------------------------


def _variants(solution: str) -> dict[str, str | None]:
    """Each student's exercise cell: None for the notebook that is not JSON."""
    init = re.search(r"static int __init \w+\(void\)\n\{\n", solution)
    assert init, "the exercise has no init function to break"
    head, tail = solution[: init.end()], solution[init.end() :]
    out: dict[str, str | None] = {name: solution for name in CLASS if name.startswith("ok")}
    out["x_build"] = solution + "\nnot C;\n"
    out["x_oops"] = head + "\t*(volatile int *)0 = 1;\n" + tail
    magic, body = head.split("\n", 1)  # the include goes under the %%kmodule line
    out["x_hang"] = (
        f"{magic}\n#include <linux/delay.h>\n{body}\twhile (1)\n\t\tmsleep(1000);\n{tail}"
    )
    out["x_json"] = None
    return out


def _kind(argv: list[bytes]) -> str:
    if b"qemu-system" in argv[0]:
        return "qemu"
    if b"ipykernel_launcher" in argv:
        return "kernel"
    return "nbgrader" if any(b"nbgrader" in a for a in argv) else "other"


class Sampler:
    """Peak memory and lifetime of every process of the run (marked by its environment)."""

    def __init__(self, mark: str) -> None:
        self.mark = mark.encode()
        self.seen: dict[int, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            now = time.monotonic()
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                pid = int(proc.name)
                try:
                    if pid not in self.seen:
                        if self.mark not in (proc / "environ").read_bytes().split(b"\0"):
                            continue
                        stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                        self.seen[pid] = {"kind": "other", "ppid": int(stat[1]), "first": now,
                                          "last": now, "peak_kib": 0}  # fmt: skip
                    # again each time: a fork shows its parent's command line until it execs
                    argv = (proc / "cmdline").read_bytes().split(b"\0")
                    status = (proc / "status").read_text()
                except (OSError, ValueError, IndexError):
                    continue
                if not argv[0]:  # a zombie, or a process half-way through exec: skip
                    continue
                kind = _kind(argv)
                entry = self.seen[pid]
                entry["last"] = now
                if kind != entry["kind"]:  # a new program: its own peak from now on
                    entry.update(kind=kind, first=now, peak_kib=0)
                hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
                if hwm:
                    entry["peak_kib"] = max(entry["peak_kib"], int(hwm[1]))

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def per_kernel(self) -> list[dict[str, float]]:
        """Each kernel (one per submission): its lifetime, and its peak + its QEMUs' peak."""
        out = []
        graders = {pid for pid, e in self.seen.items() if e["kind"] == "nbgrader"}
        for pid, entry in self.seen.items():
            if entry["kind"] != "kernel" or entry["ppid"] not in graders:
                continue  # a kernel's own fork, seen before it ran another program
            qemus = [e["peak_kib"] for e in self.seen.values()
                     if e["kind"] == "qemu" and e["ppid"] == pid]  # fmt: skip
            out.append({
                "seconds": entry["last"] - entry["first"],
                "kernel_mib": entry["peak_kib"] / 1024,
                "qemu_mib": max(qemus, default=0) / 1024,
                "qemus": len(qemus),
            })  # fmt: skip
        return out


def nbgrader(course: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=3600, check=False)  # fmt: skip


def bench_class(lesson: str, work: Path) -> dict[str, Any]:
    course = work / "course"
    write_course(course, ROOT / "notebooks" / f"{lesson}.ipynb")
    mark = f"KERNELMAGIC_BENCH_RUN={os.getpid()}-{time.time_ns()}"
    env = {**os.environ, mark.split("=")[0]: mark.split("=")[1]}
    env.pop(sandbox.GRADING_ENV, None)
    progress("autograde: generate_assignment")
    run = nbgrader(course, "generate_assignment", lesson, env=env)
    if run.returncode != 0:
        raise SystemExit(f"generate_assignment failed:\n{run.stderr[-3000:]}")
    source = nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4)
    solution = next(c.source for c in source.cells if c.metadata.nbgrader["solution"])
    for student, exercise in _variants(solution).items():
        folder = course / "submitted" / student / lesson
        folder.mkdir(parents=True)
        if exercise is None:
            (folder / f"{lesson}.ipynb").write_text('{"cells": [ not JSON')
            continue
        nb = nbformat.read(course / "release" / lesson / f"{lesson}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = exercise
        nbformat.write(nb, folder / f"{lesson}.ipynb")

    progress(f"autograde: {len(CLASS)} submissions of {lesson} (a few minutes)")
    with Sampler(mark) as sampler:
        start = time.monotonic()
        run = nbgrader(course, "autograde", lesson, env=env)
        seconds = time.monotonic() - start
    kernels = sampler.per_kernel()
    nbgraders = [e["peak_kib"] / 1024 for e in sampler.seen.values() if e["kind"] == "nbgrader"]
    export = nbgrader(course, "export", "--to", str(work / "grades.csv"), env=env)
    scores = {}
    if export.returncode == 0:
        for line in (work / "grades.csv").read_text().splitlines()[1:]:
            fields = line.split(",")
            scores[fields[3]] = f"{fields[9]}/{fields[10]}"
    return {
        "lesson": lesson,
        "submissions": len(CLASS),
        "class": "6 correct, 1 build failure, 1 oops in init, 1 hang in init, 1 not JSON",
        "autograde_exit_status": run.returncode,
        "autograde_seconds": round(seconds, 2),
        "seconds_per_submission": round(seconds / len(CLASS), 2),
        "kernel_lifetime_seconds": figure([k["seconds"] for k in kernels]),
        "memory_per_submission_mib": figure(
            [k["kernel_mib"] + k["qemu_mib"] for k in kernels if k["qemu_mib"]]
        ),
        "kernel_peak_mib": figure([k["kernel_mib"] for k in kernels]),
        "qemu_peak_mib": figure([k["qemu_mib"] for k in kernels if k["qemu_mib"]]),
        "qemu_processes": sum(int(k["qemus"]) for k in kernels),  # restarts count again
        "kernels": len(kernels),
        "nbgrader_peak_mib": round(max(nbgraders, default=0), 1),
        "scores": scores,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lesson", default="02_hello_kernel", help="the lesson the class hands in")
    parser.add_argument("--builds", type=int, default=5, help="builds of each kind, per mode")
    parser.add_argument("--skip-class", action="store_true", help="only the sandbox figures")
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    if args.builds < 1:
        parser.error("--builds must be at least 1")
    if shutil.which("bwrap") is None:
        parser.error("bubblewrap (bwrap) is not installed: make setup installs it")
    report: dict[str, Any] = {"machine": machine_info()}
    work = Path(tempfile.mkdtemp(prefix="km-bench-grading-"))
    try:
        report["sandbox"] = bench_sandbox(args.builds, work / "builds")
        if not args.skip_class:
            report["autograde"] = bench_class(args.lesson, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_report(report, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
