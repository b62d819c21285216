#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Figures of the course server (issue 12): login to a ready VM, memory, CPU, capacity.

A script, not a test: it prints one JSON object on stdout (progress and a short summary go
to stderr); nothing fails when a figure looks bad. It installs a real course server into a
temporary prefix with the test harness (``tests/hub/harness.py``), creates Unix users, logs
them in through the login form and runs cells through their Jupyter servers, as a browser
does, so it must run as root::

    .venv/bin/python bench/bench_hub.py [--max-learners 12] [--repeat 5] [--logins 2]
                                        [--idle-seconds 30] [--no-active] [--budget 600]
                                        [--server-cores 32] [--server-ram-gib 128]
                                        [--json-out FILE]

Memory and CPU are read from /proc for every process of the learner's Unix user (their
Jupyter server, kernel, QEMU, and the compilers of a build): what a learner costs the
machine, without the hub and its proxy, which are shared by the class. Everything it
creates (users, homes, prefix, processes) is removed at the end, also after an error.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.hub.harness
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_vm

from bench_vm import figure, machine_info, print_report, progress

from kernelmagic.hub.client import CellResult, HubClient, RemoteKernel
from kernelmagic.hub.spawner import LearnerCgroup
from tests.hub.harness import CourseServer, Learner, processes_of

#: The figure the issue asks about: a learner's insmod round trip stays under this.
ROUND_TRIP_LIMIT = 1.0
#: Seconds between two memory samples while a cell runs.
SAMPLE_EVERY = 0.15
#: Stop adding learners when the whole run has taken this long (the figure says so).
TIME_BUDGET = 600.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

HELLO = """%%kmodule hello --load
#include <linux/module.h>
static int __init hello_init(void) { pr_info("hello from the hub bench\\n"); return 0; }
static void __exit hello_exit(void) { }
module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
"""
#: Built once (no load); its round trip is what lesson 03 does: %insmod, then %rmmod.
ROUND_TRIP_BUILD = HELLO.replace("hello --load", "roundtrip").replace("hello_", "rt_")
ROUND_TRIP_CELL = "%insmod roundtrip\n%rmmod roundtrip"
#: What an active learner does again and again: a real build (new source) and a load.
BUSY_CELL = HELLO.replace("hello --load", "busy --load").replace("hello_", "busy_")
#: Whether the VM of this kernel came from the learner's saved state (not timed).
RESTORED_PROBE = "from kernelmagic import get_session\nprint(get_session().running_vm.restored)"


class BenchError(Exception):
    """A cell or a step failed: the figures cannot be trusted, the run stops."""


class CellFailed(BenchError):
    """A cell ended in an error; ``error`` is the kernel's one-line reason."""

    def __init__(self, message: str, error: str) -> None:
        super().__init__(message)
        self.error = error


# -- what a learner's processes cost ------------------------------------------------------


def _rollup(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in kB, from smaps_rollup; None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    rss = re.search(r"^Rss:\s+(\d+) kB", text, re.MULTILINE)
    pss = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return (int(rss.group(1)), int(pss.group(1))) if rss and pss else None


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


def memory_of(uid: int, by_process: bool = False) -> dict[str, Any]:
    """Sum of PSS and of RSS over the user's processes, in MiB (PSS shares what is shared)."""
    rss = pss = 0
    parts: dict[str, float] = {}
    for pid in processes_of(uid):
        sizes = _rollup(pid)
        if sizes is None:
            continue
        rss, pss = rss + sizes[0], pss + sizes[1]
        if by_process:
            name = _comm(pid)
            parts[name] = round(parts.get(name, 0.0) + sizes[1] / 1024, 1)
    found: dict[str, Any] = {"pss_mib": round(pss / 1024, 1), "rss_mib": round(rss / 1024, 1)}
    if by_process:
        found["pss_by_process_mib"] = parts
    return found


def hub_memory_mib(server: CourseServer) -> float | None:
    """PSS of the shared part: the hub and what it runs as root (proxy, idle culler)."""
    if server.hub is None:
        return None
    total = 0
    for pid in processes_of(0):
        try:
            session = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, IndexError, ValueError):
            continue
        if session == server.hub.pid and (sizes := _rollup(pid)) is not None:
            total += sizes[1]
    return round(total / 1024, 1)


def cgroup_memory_peak_mib(learner: Learner) -> float | None:
    """The learner's cgroup's memory high-water mark (page cache included), if it has one."""
    group = LearnerCgroup.existing("kernelmagic", learner.name)
    if group is None:
        return None
    for folder in group.dirs:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            with contextlib.suppress(OSError, ValueError):
                return round(int((folder / name).read_text()) / 2**20, 1)
    return None


class PeakSampler:
    """Samples a user's memory every SAMPLE_EVERY s in a thread; keeps the largest sums."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.pss = self.rss = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            now = memory_of(self.uid)
            self.pss, self.rss = max(self.pss, now["pss_mib"]), max(self.rss, now["rss_mib"])
            self.samples += 1
            if self._stop.wait(SAMPLE_EVERY):
                return

    @contextlib.contextmanager
    def running(self) -> Iterator[PeakSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()


def _ticks(pid: int) -> int | None:
    """utime+stime of a process plus cutime+cstime of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(f) for f in fields[11:15])  # fields 14-17 of proc(5)


def cpu_ticks_of(uid: int) -> dict[int, int]:
    return {pid: t for pid in processes_of(uid) if (t := _ticks(pid)) is not None}


# -- a learner in front of their notebook -------------------------------------------------


@dataclass
class Seat:
    """One learner logged in, with a kernel whose lab VM is up."""

    learner: Learner
    client: HubClient
    kernel: RemoteKernel
    seconds: dict[str, float] = field(default_factory=dict)
    restored: bool | None = None
    #: why a '%vm start' failed before one worked (a crowded host starves the guest)
    failed_starts: list[str] = field(default_factory=list)


def start_vm(kernel: RemoteKernel, failures: list[str], attempts: int = 3) -> None:
    """``%vm start``, again after a failure (noted): the learner's next cell restarts it."""
    for attempt in range(attempts):
        try:
            run_cell(kernel, "%vm start")
            return
        except CellFailed as exc:
            failures.append(exc.error)
            if attempt == attempts - 1:
                raise


def run_cell(kernel: RemoteKernel, code: str, timeout: float = 300.0) -> CellResult:
    result = kernel.execute(code, timeout=timeout)
    if not result.ok:
        first = code.splitlines()[0]
        raise CellFailed(f"cell {first!r} of {kernel.client.user} failed: {result.error}\n"
                         f"{result.text[-1500:]}", str(result.error)[:200])  # fmt: skip
    return result


def sit_down(server: CourseServer, learner: Learner) -> Seat:
    """Log in through the form, start the server and a kernel, ``%vm start``: timed."""
    began = time.perf_counter()
    client = server.client(learner)  # the form's page, then its POST
    logged_in = time.perf_counter()
    client.start_server()
    served = time.perf_counter()
    kernel = client.start_kernel()
    kernel_up = time.perf_counter()
    failures: list[str] = []
    start_vm(kernel, failures)
    ready = time.perf_counter()
    seat = Seat(learner, client, kernel, failed_starts=failures, seconds={
        "total": ready - began,
        "login_form": logged_in - began,
        "server_start": served - logged_in,
        "kernel_start": kernel_up - served,
        "vm_start_cell": ready - kernel_up,
    })  # fmt: skip
    seat.restored = run_cell(kernel, RESTORED_PROBE).text.strip() == "True"
    return seat


def stand_up(server: CourseServer, seat: Seat) -> None:
    """Close the kernel and stop the server (its VM with it); wait until nothing is left."""
    with contextlib.suppress(Exception):
        seat.kernel.shutdown()
    seat.client.stop_server()
    left = server.wait_no_processes(seat.learner)
    if left:
        raise BenchError(f"{seat.learner.name} still has processes {left} after logout")


def _phases(seat: Seat) -> dict[str, Any]:
    phases: dict[str, Any] = {
        **{f"{name}_s": round(value, 2) for name, value in seat.seconds.items()},
        "vm_restored_from_saved_state": seat.restored,
    }
    if seat.failed_starts:  # their time is in the total: the learner waited for them
        phases["failed_vm_starts"] = seat.failed_starts
    return phases


def peak_during(seat: Seat, code: str) -> dict[str, Any]:
    """The user's largest memory sums while one cell runs, and the cell's time."""
    sampler = PeakSampler(seat.learner.uid)
    with sampler.running():
        began = time.perf_counter()
        run_cell(seat.kernel, code)
        seconds = time.perf_counter() - began
    return {"pss_mib": sampler.pss, "rss_mib": sampler.rss, "samples": sampler.samples,
            "cell_s": round(seconds, 2)}  # fmt: skip


def at_rest(seat: Seat, settle: float = 5.0) -> dict[str, Any]:
    """Memory once the VM has been idle a few seconds: the median of three readings.

    The CPU the user's processes took meanwhile comes along: a guest just booted cold
    may still be busy, one restored from its saved state should not be.
    """
    before, began = cpu_ticks_of(seat.learner.uid), time.monotonic()
    time.sleep(settle)
    readings = []
    for _ in range(3):
        readings.append(memory_of(seat.learner.uid, by_process=True))
        time.sleep(1.0)
    mid = sorted(readings, key=lambda r: r["pss_mib"])[1]
    cpu = _percent(before, cpu_ticks_of(seat.learner.uid), time.monotonic() - began)
    return {**mid, "vm_restored_from_saved_state": seat.restored,
            "cpu_percent_of_one_core_meanwhile": cpu}  # fmt: skip


def idle_cpu(seat: Seat, seconds: float, slices: int = 3) -> dict[str, Any]:
    """CPU of all the user's processes over ``seconds`` with the VM up and no cell running.

    Taken in ``slices`` equal parts too, so that a cost that fades (a guest still busy
    after its boot) shows apart from a steady one.
    """
    uid = seat.learner.uid
    time.sleep(3.0)  # let the last cell's aftermath settle
    first = before = cpu_ticks_of(uid)
    began = time.monotonic()
    parts = []
    for _ in range(slices):
        mark = time.monotonic()
        time.sleep(seconds / slices)
        now = cpu_ticks_of(uid)
        parts.append(_percent(before, now, time.monotonic() - mark))
        before = now
    wall = time.monotonic() - began
    by_name: dict[str, float] = {}
    for pid, t in now.items():
        name = _comm(pid)
        by_name[name] = by_name.get(name, 0.0) + (t - first.get(pid, 0)) / CLK_TCK
    return {
        "window_s": round(wall, 1),
        "cpu_s": round(sum(by_name.values()), 2),
        "percent_of_one_core": _percent(first, now, wall),
        "percent_by_slice": parts,
        "cpu_s_by_process": {k: round(v, 2) for k, v in by_name.items()},
        "vm_restored_from_saved_state": seat.restored,
    }


def _percent(before: dict[int, int], after: dict[int, int], wall: float) -> float:
    """% of one core between two readings. Pids alive at both count their difference, pids
    born meanwhile all of theirs; children that exited are in their parent's cutime/cstime."""
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return round(100 * used / CLK_TCK / wall, 2)


def round_trips(seat: Seat, repeat: int, gap: float = 0.0) -> tuple[list[float], list[str]]:
    """Timed round trips, ``gap`` s apart, and the errors of those that failed (the VM is
    started again)."""
    samples: list[float] = []
    failures: list[str] = []
    for i in range(repeat):
        if i:
            time.sleep(gap)
        began = time.perf_counter()
        try:
            run_cell(seat.kernel, ROUND_TRIP_CELL)
        except CellFailed as exc:
            failures.append(exc.error)
            start_vm(seat.kernel, failures)
            continue
        samples.append(time.perf_counter() - began)
    return samples, failures


class BusyLearners:
    """Other learners building and loading a new module again and again, in threads."""

    def __init__(self, seats: list[Seat]) -> None:
        self.seats = seats
        self.stop = threading.Event()
        self.cells = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(s,), daemon=True)
                         for s in seats]  # fmt: skip

    def _loop(self, seat: Seat) -> None:
        while not self.stop.is_set():
            cell = BUSY_CELL + f"/* nonce {secrets.token_hex(6)} */\n"
            try:
                run_cell(seat.kernel, cell)
            except Exception as exc:  # reported in the figure, the others go on
                with self._lock:
                    self.errors.append(f"{seat.learner.name}: {str(exc)[:300]}")
                return
            with self._lock:
                self.cells += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[BusyLearners]:
        for thread in self._threads:
            thread.start()
        try:
            time.sleep(2.0)  # every one of them is into a build
            yield self
        finally:
            self.stop.set()
            for thread in self._threads:
                thread.join(300)


# -- the figures ---------------------------------------------------------------------------


def mem_available_mib() -> float:
    text = Path("/proc/meminfo").read_text()
    m = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) / 1024 if m else 0.0


def mem_total_mib() -> float:
    m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    return int(m.group(1)) / 1024 if m else 0.0


def seat_many(server: CourseServer, learners: list[Learner]) -> list[Seat]:
    """Log these learners in at the same time, each in a thread of their own."""
    with ThreadPoolExecutor(len(learners)) as pool:
        return list(pool.map(lambda learner: sit_down(server, learner), learners))


def capacity_level(seats: list[Seat], repeat: int, active: bool) -> dict[str, Any]:
    """The first seat's round trips while the others sit idle, or work (``active``)."""
    measurer, others = seats[0], seats[1:]
    load_before = os.getloadavg()[0]
    if active and others:
        busy = BusyLearners(others)
        with busy.running():  # spread over the others' build cycles, not one moment
            samples, failures = round_trips(measurer, repeat, gap=0.5)
        extra: dict[str, Any] = {"busy_cells_done": busy.cells}
        if busy.errors:
            extra["busy_errors"] = busy.errors
    else:
        samples, failures = round_trips(measurer, repeat)
        extra = {}
    if failures:
        extra["failed_cells"] = failures
    row = figure(samples, ROUND_TRIP_LIMIT, learners=len(seats),
                 loadavg_1min=round(max(load_before, os.getloadavg()[0]), 2), **extra)  # fmt: skip
    row["under_limit"] = bool(row.pop("meets_target")) and not failures
    row.pop("target")
    return row


def capacity(
    server: CourseServer,
    seats: list[Seat],
    args: argparse.Namespace,
    started: float,
    peak_mib: float,
    alone: dict[str, Any],
) -> dict[str, Any]:
    """Round trips with 3, 4, 6, ... learners up (``alone``: with one); stop over the limit,
    out of memory or out of time."""
    idle_rows: list[dict[str, Any]] = [alone]
    active_rows: list[dict[str, Any]] = []
    logins: dict[int, list[dict[str, Any]]] = {}
    stopped = f"reached --max-learners {args.max_learners}"
    active_over = not args.active
    # 3: the one alone and the two who logged in at once; then every second count.
    levels = [n for n in (3, *range(4, args.max_learners + 1, 2)) if n <= args.max_learners]
    if not alone["under_limit"]:
        levels, stopped = [], f"median round trip over {ROUND_TRIP_LIMIT} s with one learner"
    for n in levels:
        if n > len(seats):
            missing = n - len(seats)
            need = missing * peak_mib * 2 + 1024
            if mem_available_mib() < need:
                stopped = f"memory: {mem_available_mib():.0f} MiB available, {need:.0f} wanted"
                break
            if time.monotonic() - started > args.budget:
                stopped = f"time budget of {args.budget:.0f} s used"
                break
            progress(f"capacity: logging in {missing} more learner(s) for {n}")
            added: list[Seat] = []
            try:
                for _ in range(missing):  # one after the other, as a class trickles in
                    learner = server.add_learner(f"n{len(server.learners):02d}")
                    added.append(sit_down(server, learner))
                    seats.append(added[-1])
            except BenchError as exc:
                stopped = f"learner {len(seats) + 1} could not get a VM: {str(exc)[:300]}"
                break
            finally:
                logins[n] = [_phases(s) for s in added]
        progress(f"capacity: {n} learner(s), round trips with the others idle")
        idle_rows.append(capacity_level(seats[:n], args.repeat, active=False))
        idle_rows[-1]["hub_and_proxy_pss_mib"] = hub_memory_mib(server)
        if not active_over and n > 1:
            progress(f"capacity: {n} learner(s), round trips with the others building")
            active_rows.append(capacity_level(seats[:n], args.repeat, active=True))
            active_over = not active_rows[-1]["under_limit"]
        if not idle_rows[-1]["under_limit"]:
            stopped = f"median round trip over {ROUND_TRIP_LIMIT} s at {n} learners"
            break
    return {
        "idle_others": idle_rows,
        "active_others": active_rows,
        "stopped_because": stopped,
        # First logins (cold boots) of the learners added for each level, the others idle.
        "logins_of_learners_added_for_level": {str(n): rows for n, rows in logins.items()},
    }


def _largest_under(rows: list[dict[str, Any]], default: int) -> tuple[int, bool]:
    """The most learners whose median stayed under the limit; True if a row went over."""
    best, over = default, False
    for row in rows:
        if row["under_limit"]:
            best = max(best, row["learners"])
        else:
            over = True
            break
    return best, over


def predict(
    cap: dict[str, Any], peak_mib: float, idle_pct: float, cores: int, ram_gib: float
) -> dict[str, Any]:
    """A bigger server: CPU scales with cores, memory bounds by RAM / peak; the smaller wins."""
    here = os.cpu_count() or 2
    scale = cores / here
    idle_n, idle_over = _largest_under(cap["idle_others"], 0)
    active_n, active_over = _largest_under(cap["active_others"], 1)
    memory_bound = math.floor(ram_gib * 1024 * 0.9 / peak_mib) if peak_mib else None
    idle_cpu = math.floor(idle_n * scale)
    # Without active rows (--no-active, or stopped before 3 learners) there is no figure.
    active_cpu = math.floor(active_n * scale) if cap["active_others"] else None

    def smaller(cpu: int | None) -> int | None:
        if cpu is None or memory_bound is None:
            return cpu
        return min(cpu, memory_bound)

    return {
        "server_cores": cores,
        "server_ram_gib": ram_gib,
        "measured_cores": here,
        "memory_bound_learners": memory_bound,
        "memory_bound_learners_this_machine": math.floor(mem_total_mib() * 0.9 / peak_mib),
        "cpu_bound_idle_learners": idle_cpu,
        "cpu_bound_idle_is_lower_bound": not idle_over,
        "cpu_bound_active_learners": active_cpu,
        "cpu_bound_active_is_lower_bound": not active_over,
        "idle_cpu_only_bound_learners": (
            math.floor(cores * 100 / idle_pct) if idle_pct > 0 else None
        ),
        "learners_idle_vms": smaller(idle_cpu),
        "learners_all_building": smaller(active_cpu),
        "reasoning": (
            f"CPU: the most learners whose median insmod round trip stayed under "
            f"{ROUND_TRIP_LIMIT} s on this {here}-core machine ({idle_n} with the others idle"
            f"{'' if idle_over else ', never over the limit, so a lower bound'}; {active_n} "
            f"with the others building and loading in a loop"
            f"{'' if active_over else ', a lower bound'}), times {cores}/{here} for "
            f"{cores} cores, assuming the round trip is bound by CPU contention and learners "
            f"spread over cores. Memory: {ram_gib:g} GiB less 10 % for the system and the "
            f"hub, divided by the peak PSS of one learner ({peak_mib:.0f} MiB: server, "
            f"kernel, VM during a build+load or a VM restart). The smaller of the two is the "
            f"prediction. idle_cpu_only_bound_learners is cores / idle CPU per learner: "
            f"what idle VMs alone would allow, not a latency figure."
        ),
    }


def run(
    server: CourseServer, args: argparse.Namespace, started: float, report: dict[str, Any]
) -> None:
    """Fill ``report`` figure by figure (what is done stays if a later step fails)."""
    progress("installing the course server into a temporary prefix (pip, npm)")
    began = time.perf_counter()
    server.install()
    server.start()
    report["install_and_start_s"] = round(time.perf_counter() - began, 1)
    settings = server.settings
    report["server_settings"] = {"spawner": settings.spawner, "mem_limit": settings.mem_limit,
                                 "cpu_limit": settings.cpu_limit,
                                 "vms_per_learner": settings.vms_per_learner}  # fmt: skip

    # 1. login to a ready VM, one learner: first login (cold boot), second (restored).
    login: dict[str, Any] = {
        "what": "login form (GET + POST) -> server ready -> kernel -> '%vm start' cell "
                "returned, through the hub's proxy; seconds (failed VM starts retried, "
                "their time included)",
    }  # fmt: skip
    memory: dict[str, Any] = {
        "what": "sum over every process of the learner's Unix user of PSS and of RSS "
                "(/proc/PID/smaps_rollup), MiB; at rest = VM up and idle; peak = largest "
                f"sum sampled every {SAMPLE_EVERY} s during the cell",
    }  # fmt: skip
    report["login_to_ready_vm"], report["memory_per_learner"] = login, memory
    firsts: list[dict[str, Any]] = []
    seconds: list[dict[str, Any]] = []
    cpu: dict[str, Any] = {}
    for i in range(args.logins):
        learner = server.add_learner(f"n{i:02d}")
        progress(f"one learner alone ({i + 1}/{args.logins}), first login (cold boot)")
        seat = sit_down(server, learner)
        firsts.append(_phases(seat))
        if i == 0:
            memory["at_rest_after_cold_boot"] = at_rest(seat)
            progress("peak memory during %%kmodule hello --load and %vm restart")
            memory["peak_during_kmodule_load"] = peak_during(seat, HELLO)
            memory["peak_during_vm_restart"] = peak_during(seat, "%vm restart")
            restored = run_cell(seat.kernel, RESTORED_PROBE).text.strip() == "True"
            memory["peak_during_vm_restart"]["vm_restored_from_saved_state"] = restored
            memory["cgroup_memory_peak_mib"] = cgroup_memory_peak_mib(learner)
            memory["cgroup_note"] = (
                "the learner's cgroup high-water mark (page cache in, pages first touched "
                "by another cgroup out)"
            )
            progress(f"idle CPU over {args.idle_seconds:.0f} s, VM restarted by the cell")
            seat.restored = restored
            cpu["after_first_login_cells_and_vm_restart"] = idle_cpu(seat, args.idle_seconds)
        stand_up(server, seat)
        progress(f"one learner alone ({i + 1}/{args.logins}), second login (restored)")
        seat = sit_down(server, learner)
        seconds.append(_phases(seat))
        if i == 0:
            memory["at_rest_restored"] = at_rest(seat)
            progress(f"idle CPU over {args.idle_seconds:.0f} s, VM restored at login")
            cpu["second_login_restored"] = idle_cpu(seat, args.idle_seconds)
            memory["peak_during_kmodule_load_restored_vm"] = peak_during(seat, HELLO)
        if i < args.logins - 1:
            stand_up(server, seat)
    login["one_learner_first_login"] = {
        "total_s": figure([p["total_s"] for p in firsts]),
        "runs": firsts,
    }
    login["one_learner_second_login"] = {
        "total_s": figure([p["total_s"] for p in seconds]),
        "runs": seconds,
    }
    peak_mib = max(memory[key]["pss_mib"] for key in memory if key.startswith("peak_during"))
    memory["peak_pss_per_learner_mib"] = peak_mib
    report["idle_learner_cpu"] = {
        "what": "utime+stime (+cutime+cstime of waited-for children) of every process of "
                "the learner (/proc/PID/stat), over the window, VM up and nothing running, "
                "% of one core; the hub and proxy (shared) not counted",
        **cpu,
    }  # fmt: skip
    run_cell(seat.kernel, ROUND_TRIP_BUILD)  # the module the round trips load and unload
    run_cell(seat.kernel, ROUND_TRIP_CELL)  # once untimed: the first ever is no figure
    seats = [seat]
    try:
        progress("capacity: 1 learner")
        alone = capacity_level(seats, args.repeat, active=False)

        # 1b. two new learners at the same time (first logins: cold boots).
        progress("two learners logging in at the same time (first logins)")
        pair = [server.add_learner(f"n{args.logins + i:02d}") for i in range(2)]
        seats.extend(seat_many(server, pair))
        login["two_learners_at_once_first_login"] = [_phases(s) for s in seats[1:3]]

        # 4. capacity: N learners, one of them measures the insmod round trip.
        rest = capacity(server, seats, args, started, peak_mib, alone)
        report["capacity_2_cores"] = {
            "what": f"seconds of one cell '{ROUND_TRIP_CELL}' (a module built earlier, as in "
                    "lesson 03), run by one learner, from the client's execute to the kernel "
                    "idle again, through the proxy; every learner has a VM up. idle_others: "
                    "the others do nothing; active_others: every other learner runs a "
                    "'%%kmodule busy --load' cell with new source (a real build + reload) "
                    f"in a loop. under_limit: median <= {ROUND_TRIP_LIMIT} s and no cell "
                    "failed",
            **rest,
        }  # fmt: skip
        idle_pct = cpu["second_login_restored"]["percent_of_one_core"]
        report["prediction"] = predict(rest, peak_mib, idle_pct, args.server_cores,
                                       args.server_ram_gib)  # fmt: skip
    finally:
        for s in seats:
            with contextlib.suppress(Exception):
                s.kernel.shutdown()


def summary(report: dict[str, Any]) -> list[str]:
    """A few lines for a human; the JSON has everything (and what a line misses, if any)."""
    try:
        return _summary_lines(report)
    except (KeyError, TypeError) as exc:
        return [f"incomplete run: no figure for {exc}"]


def _summary_lines(report: dict[str, Any]) -> list[str]:
    login = report["login_to_ready_vm"]
    mem = report["memory_per_learner"]
    cap = report["capacity_2_cores"]
    pred = report["prediction"]
    cpu = report["idle_learner_cpu"]
    pair = ", ".join(f"{p['total_s']:.1f}" for p in login["two_learners_at_once_first_login"])

    def row(r: dict[str, Any]) -> str:
        failed = f" ({len(r['failed_cells'])} failed)" if r.get("failed_cells") else ""
        return f"{r['learners']}: {r['median']} s{failed}"

    rows = "; ".join(row(r) for r in cap["idle_others"])
    busy = "; ".join(row(r) for r in cap["active_others"])
    return [
        f"login to ready VM (median): first {login['one_learner_first_login']['total_s']['median']}"
        f" s, second {login['one_learner_second_login']['total_s']['median']} s, "
        f"two at once {pair} s",
        f"memory per learner: at rest {mem['at_rest_restored']['pss_mib']:.0f} MiB PSS "
        f"(restored), {mem['at_rest_after_cold_boot']['pss_mib']:.0f} MiB (cold boot); "
        f"peak {mem['peak_pss_per_learner_mib']:.0f} MiB",
        f"idle learner CPU, % of a core: "
        f"{cpu['second_login_restored']['percent_of_one_core']} (VM restored at login), "
        f"{cpu['after_first_login_cells_and_vm_restart']['percent_of_one_core']} (after cells "
        "and a restart)",
        f"insmod round trip median by learners (others idle): {rows}",
        f"... (others building): {busy or 'not measured'}; stopped: {cap['stopped_because']}",
        f"{pred['server_cores']} cores / {pred['server_ram_gib']:g} GiB: "
        f"{pred['learners_idle_vms']} learners with idle VMs, "
        f"{pred['learners_all_building']} all building at once",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-learners", type=int, default=12, help="capacity: at most N")
    parser.add_argument("--repeat", type=int, default=5, help="round trips per level")
    parser.add_argument("--logins", type=int, default=2,
                        help="learners timed alone, first and second login")  # fmt: skip
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="idle CPU window")
    parser.add_argument("--no-active", dest="active", action="store_false",
                        help="skip the rows with the other learners building")  # fmt: skip
    parser.add_argument("--server-cores", type=int, default=32, help="the predicted server")
    parser.add_argument("--server-ram-gib", type=float, default=128.0, help="its memory")
    parser.add_argument("--budget", type=float, default=TIME_BUDGET,
                        help="seconds after which no more learners are added")  # fmt: skip
    parser.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.logins < 1:
        parser.error("--repeat and --logins must be at least 1")
    if os.geteuid() != 0:
        print("bench_hub.py creates Unix users and a course server: run it as root",
              file=sys.stderr)  # fmt: skip
        return 2
    started = time.monotonic()
    report: dict[str, Any] = {"machine": machine_info()}
    report["machine"]["mem_total_mib"] = round(mem_total_mib())
    server = CourseServer()
    failed = None
    try:
        run(server, args, started, report)
    except BenchError as exc:
        failed = str(exc)
        report["error"] = failed.splitlines()[0]
    finally:
        progress("removing the course server, its users and their processes")
        server.remove()
    report["run_s"] = round(time.monotonic() - started, 1)
    report["summary"] = summary(report)
    for line in report["summary"]:
        progress(line)
    print_report(report, args.json_out)
    if failed:
        print(f"bench_hub: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
