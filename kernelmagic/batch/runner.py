# SPDX-License-Identifier: MIT
"""Run notebooks through papermill on the course's kernel, N at a time, each in its own VM.

papermill does the executing (parameters injected after the ``parameters`` cell, the
executed notebook saved as it goes); this module adds what a class needs around it:

- a worker pool, each notebook in its own Jupyter kernel and so in its own lab VM;
- a wall-clock deadline per notebook, watched from outside the kernel: a notebook that
  hangs, or whose kernel or VM dies, is stopped and marked, and the others go on;
  its kernel and QEMU are killed by their ids and checked to be gone;
- what a reader needs to see why a notebook failed: the failing cell and its error,
  and the end of the guest's kernel log (asked of the kernel after a failed cell,
  read from the VM's console log when the kernel no longer answers);
- the memory each worker uses (kernel + QEMU), sampled while it runs;
- another kernel's bundle for the whole batch (``kernel_version``), through the
  environment variable the bundle loader honours, so the machine's lab stays as it is.

papermill is extended the way it is meant to be, with an engine of its own
(:class:`BatchEngine`, registered as ``kernelmagic-batch``), which owns the kernel
manager so that the kernel outlives the last cell long enough to be asked for its log.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

from kernelmagic.batch.cells import expected_failures, failed_cell
from kernelmagic.batch.html import write_html
from kernelmagic.batch.processes import (
    Memory,
    console_tail,
    descendants,
    memory_of,
    stop_tree,
    wait_gone,
)
from kernelmagic.batch.results import BatchReport, CellFailure, NotebookResult
from kernelmagic.course.tags import EXPECTED_FAILURE_TAGS, RAISES_EXCEPTION, tags_of
from kernelmagic.errors import SetupError, UsageError
from kernelmagic.files import write_atomically
from kernelmagic.machine.bundle import RELEASE_ENV, Bundle, build_bundle

__all__ = ["ENGINE", "KERNEL_NAME", "BatchEngine", "Event", "collect_notebooks", "run_batch"]

log = logging.getLogger(__name__)

KERNEL_NAME = "kernelmagic"  # the course's Jupyter kernel
ENGINE = "kernelmagic-batch"
LOG_LINES = 40
#: How long a kernel may take to shut down its VM before it is killed.
SHUTDOWN_WAIT = 10.0
#: Seconds between two "still running" events.
HEARTBEAT = 30.0

#: Run in the kernel after a failed cell (its VM, not a new one): the guest's kernel
#: log, else the console of a VM that crashed. Prints one JSON line.
_LOG_SNIPPET = f"""
def _kernelmagic_batch_log(n={LOG_LINES}):
    import json
    lines, source = [], ""
    try:
        import kernelmagic
        from kernelmagic.guest import kernel_log
        session = kernelmagic.get_session()
        vm = session.running_vm
        if vm is not None:
            lines, source = [str(r) for r in kernel_log.dmesg(vm, last=n)], "dmesg"
        if not lines and session.last_vm is not None:
            lines, source = list(session.last_vm.console.tail(n)), "console"
    except Exception as exc:
        lines, source = [f"(the kernel log could not be read: {{exc}})"], "error"
    print("KERNELMAGIC-BATCH-LOG " + json.dumps({{"source": source, "lines": lines}}))
_kernelmagic_batch_log()
del _kernelmagic_batch_log
"""


@dataclass(frozen=True)
class Event:
    """What the runner tells its caller.

    ``kind`` is "started", "finished" (``result`` says how it went) or "running", sent
    every half minute while notebooks run, ``name`` then listing them with their time.
    """

    kind: str
    name: str
    result: NotebookResult | None
    done: int
    running: int
    failed: int
    total: int


@dataclass(eq=False)
class _Job:
    """One notebook on its way through the pool; the monitor and its worker share it."""

    path: Path
    output: Path
    timeout: float
    started: float = 0.0
    kernel_pid: int | None = None
    current_cell: int | None = None
    stopped: bool = False  # by the monitor, at the deadline
    announced: bool = False
    memory: Memory = field(default_factory=Memory)
    console: list[str] = field(default_factory=list)
    log_source: str = ""
    log_lines: list[str] = field(default_factory=list)
    nb: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def kernel_output(self) -> Path:
        """Where the Jupyter kernel process writes its own stdout and stderr."""
        return self.output.parent / "logs" / f"{self.name}.jupyter-kernel.txt"

    def cell_started(self, cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        self.current_cell = cell_index


class _KernelManager(AsyncKernelManager):
    """The course kernel of one notebook: the batch's environment, the notebook's folder."""

    batch_env: Mapping[str, str] = {}
    batch_cwd: str | None = None
    batch_job: _Job | None = None

    async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
        env = dict(kw.pop("env", None) or os.environ)
        env.update(self.batch_env)
        kw["env"] = env
        if self.batch_cwd is not None:
            kw["cwd"] = self.batch_cwd
        job = self.batch_job
        if job is not None:  # the kernel process's own chatter, kept for a kernel that dies
            job.kernel_output.parent.mkdir(parents=True, exist_ok=True)
            with job.kernel_output.open("ab") as out:
                kw["stdout"] = kw["stderr"] = out
                await super().start_kernel(**kw)
            job.kernel_pid = getattr(self.provisioner, "pid", None)
        else:
            await super().start_kernel(**kw)


class BatchEngine(NBClientEngine):
    """papermill's nbclient engine, with a kernel manager we own (see the module doc)."""

    @classmethod
    def execute_managed_notebook(  # type: ignore[override]
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        job: _Job = kwargs["kernelmagic_job"]
        km = _KernelManager(kernel_name=kernel_name)
        km.shutdown_wait_time = SHUTDOWN_WAIT
        km.batch_env = kwargs.get("kernelmagic_env", {})
        km.batch_cwd = str(job.path.parent)
        km.batch_job = job
        allowed = _allow_expected_failures(nb_man.nb)
        client = PapermillNotebookClient(
            nb_man, km=km, kernel_name=kernel_name, timeout=execution_timeout,
            startup_timeout=start_timeout, log=logging.getLogger("papermill"),
            log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
            on_cell_execute=job.cell_started,
        )  # fmt: skip
        try:
            return client.execute()
        finally:
            for cell in allowed:
                cell.metadata["tags"] = [t for t in tags_of(cell) if t != RAISES_EXCEPTION]
            job.nb = copy.deepcopy(nb_man.nb)
            _finish_kernel(job, km, client)


papermill_engines.register(ENGINE, BatchEngine)


def _allow_expected_failures(nb: Any) -> list[Any]:
    """Let cells tagged ``expected-failure`` raise (nbclient honours only nbval's tag)."""
    added = []
    for cell in nb.cells:
        tags = tags_of(cell)
        expected = any(t in tags for t in EXPECTED_FAILURE_TAGS)
        if cell.cell_type == "code" and expected and RAISES_EXCEPTION not in tags:
            cell.metadata["tags"] = [*tags, RAISES_EXCEPTION]
            added.append(cell)
    return added


def _finish_kernel(job: _Job, km: _KernelManager, client: Any) -> None:
    """Ask a kernel whose cell failed for its log, then shut it down and make sure of it."""
    pid = job.kernel_pid
    try:
        if pid is not None and not job.stopped and failed_cell(job.nb) is not None:
            job.log_source, job.log_lines = _ask_kernel_log(km)
    finally:
        if getattr(client, "kc", None) is not None:
            with contextlib.suppress(Exception):
                client.kc.stop_channels()
        below = descendants(pid) if pid is not None else []
        with contextlib.suppress(Exception):  # a kernel that is gone already
            run_sync(km.shutdown_kernel)(now=job.stopped)
        with job.lock:
            left = wait_gone([pid, *below], SHUTDOWN_WAIT) if pid is not None else []
            if left:  # QEMU should have died with the kernel; this is the safety net
                log.warning("%s: killing what its kernel left running: %s", job.name, left)
                for other in left:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(other, signal.SIGKILL)
                wait_gone(left, 5.0)
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()


def _ask_kernel_log(km: _KernelManager) -> tuple[str, list[str]]:
    """The kernel log as the notebook's own lab VM has it, asked of the idle kernel."""
    from jupyter_client.blocking import BlockingKernelClient

    kc = BlockingKernelClient(connection_file=km.connection_file)
    kc.load_connection_file()
    texts: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg.get("msg_type") == "stream":
            texts.append(msg["content"].get("text", ""))

    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=15)
        kc.execute_interactive(_LOG_SNIPPET, timeout=60, store_history=False,
                               allow_stdin=False, output_hook=hook)  # fmt: skip
    except Exception as exc:  # a kernel that does not answer: the console log will do
        log.info("could not ask the kernel for its log: %s", exc)
        return "", []
    finally:
        kc.stop_channels()
    for line in reversed("".join(texts).splitlines()):
        if line.startswith("KERNELMAGIC-BATCH-LOG "):
            data = json.loads(line.split(" ", 1)[1])
            return str(data.get("source", "")), [str(x) for x in data.get("lines", [])]
    return "", []


# -- the run --------------------------------------------------------------------------------


def collect_notebooks(sources: Sequence[Path | str]) -> list[Path]:
    """The notebooks named: files as given, folders as their ``*.ipynb`` (sorted)."""
    found: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found += sorted(p for p in source.glob("*.ipynb") if not p.name.startswith("."))
        elif source.is_file() and source.suffix == ".ipynb":
            found.append(source)
        elif source.exists():
            raise UsageError(f"{source} is not a notebook (.ipynb) or a folder of notebooks")
        else:
            raise UsageError(f"{source} does not exist")
    if not found:
        raise UsageError(f"no notebook (*.ipynb) in {', '.join(map(str, sources))}")
    names: dict[str, Path] = {}
    for path in found:
        if path.stem in names and names[path.stem].resolve() != path.resolve():
            raise UsageError(
                f"two notebooks are named {path.name} ({names[path.stem]} and {path}); "
                "their executed copies would overwrite each other: run them separately"
            )
        names[path.stem] = path
    return list({p.resolve(): p for p in found}.values())


def run_batch(
    notebooks: Sequence[Path | str],
    out_dir: Path | str,
    *,
    parameters: Mapping[str, Any] | None = None,
    workers: int = 1,
    timeout: float = 900.0,
    kernel_version: str | None = None,
    kernel_name: str = KERNEL_NAME,
    on_event: Callable[[Event], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> BatchReport:
    """Execute ``notebooks`` (files or folders) and write them and the report to ``out_dir``.

    ``parameters`` go to every notebook (papermill injects them after its ``parameters``
    cell; one a notebook does not declare is reported). ``workers`` notebooks run at a
    time; ``timeout`` is each one's wall-clock deadline in seconds, kernel start
    included. ``kernel_version`` runs the whole batch on that kernel's bundle, built
    first if needed. Returns the report, also written as ``report.json`` and
    ``report.html``.
    """
    if workers < 1:
        raise UsageError(f"--workers must be 1 or more, not {workers}")
    if timeout <= 0:
        raise UsageError(f"--timeout must be a number of seconds above 0, not {timeout:g}")
    paths = collect_notebooks(notebooks)
    out = Path(out_dir).resolve()
    for path in paths:
        if (out / path.name).resolve() == path.resolve():
            raise UsageError(
                f"--out {out_dir} would overwrite {path}: write the executed notebooks "
                f"elsewhere, e.g. {path.resolve().parent.parent / 'build' / 'batch'}"
            )
    release, env = _kernel_for(kernel_version, on_progress)
    _require_kernelspec(kernel_name)
    out.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    jobs = [_Job(p, out / p.name, timeout) for p in paths]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    begin = time.monotonic()
    results: dict[int, NotebookResult] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kernelmagic-batch")
    futures: dict[Future[NotebookResult], _Job] = {
        pool.submit(_run_one, job, params, kernel_name, env): job for job in jobs
    }
    try:
        _watch(futures, results, jobs, on_event)
    except BaseException:
        for job in jobs:  # Ctrl-C: no kernel and no VM may outlive the batch
            _stop(job)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report = BatchReport(
        notebooks=[results[i] for i in range(len(jobs)) if i in results],
        workers=workers, timeout=timeout, parameters=params, kernel_name=kernel_name,
        kernel_release=release, started=started_at, seconds=time.monotonic() - begin,
    )  # fmt: skip
    write_atomically(out / "report.json", report.to_json())
    write_html(report, out / "report.html")
    return report


def _watch(
    futures: dict[Future[NotebookResult], _Job],
    results: dict[int, NotebookResult],
    jobs: list[_Job],
    on_event: Callable[[Event], None] | None,
) -> None:
    """The monitor: deadlines, memory and console samples, and the events, once a second."""
    pending = set(futures)
    failed = 0
    last_heartbeat = time.monotonic()

    def emit(kind: str, job: _Job, result: NotebookResult | None) -> None:
        running = sum(1 for f in pending if futures[f].started)
        if on_event is not None:
            on_event(Event(kind, job.name, result, len(results), running, failed, len(jobs)))

    while pending:
        done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
        now = time.monotonic()
        for future in done:
            job = futures[future]
            if not job.announced:  # it ended before the monitor saw it start
                job.announced = True
                emit("started", job, None)
            result = future.result()
            results[jobs.index(job)] = result
            failed += 0 if result.passed else 1
            emit("finished", job, result)
        for future in pending:
            job = futures[future]
            if job.started and not job.announced:
                job.announced = True
                emit("started", job, None)
        for future in pending:
            job = futures[future]
            if not job.started or job.kernel_pid is None:
                continue
            job.memory = job.memory.peak(memory_of(job.kernel_pid))
            job.console = console_tail(job.kernel_pid, LOG_LINES) or job.console
            if now - job.started > job.timeout and not job.stopped:
                log.info("%s passed its deadline of %g s: stopping it", job.name, job.timeout)
                _stop(job)
        running = [futures[f] for f in pending if futures[f].started]
        if running and now - last_heartbeat >= HEARTBEAT and on_event is not None:
            last_heartbeat = now
            names = ", ".join(f"{j.name} ({now - j.started:.0f} s)" for j in running)
            on_event(Event("running", names, None, len(results), len(running), failed, len(jobs)))


def _stop(job: _Job) -> None:
    """Kill a running notebook's kernel and VM (its worker then sees a dead kernel)."""
    with job.lock:
        if job.kernel_pid is None or job.stopped:
            return
        job.stopped = True
        job.console = console_tail(job.kernel_pid, LOG_LINES) or job.console
        stop_tree(job.kernel_pid)


def _run_one(
    job: _Job, parameters: dict[str, Any], kernel_name: str, env: Mapping[str, str]
) -> NotebookResult:
    """Execute one notebook and say how it went; never raises for the notebook's faults."""
    import nbformat
    import papermill

    job.started = time.monotonic()
    result = NotebookResult(job.name, str(job.path), job.output.name)
    try:
        nbformat.validate(nbformat.read(job.path, as_version=4))
        result.declared_parameters = list(papermill.inspect_notebook(str(job.path)))
    except Exception as exc:
        result.message = f"not a notebook that can run: {_one_line(exc)}"
        result.seconds = time.monotonic() - job.started
        result.output = ""  # nothing was executed, so nothing was written
        return result
    result.unknown_parameters = sorted(set(parameters) - set(result.declared_parameters))
    error: BaseException | None = None
    try:
        papermill.execute_notebook(
            str(job.path), str(job.output), parameters=parameters, engine_name=ENGINE,
            kernel_name=kernel_name, progress_bar=False, request_save_on_cell_execute=True,
            start_timeout=min(120.0, job.timeout), kernelmagic_job=job, kernelmagic_env=env,
        )  # fmt: skip
    except papermill.PapermillExecutionError:
        pass  # the failed cell is read from the notebook below
    except Exception as exc:
        error = exc
    result.seconds = time.monotonic() - job.started
    _describe(result, job, error)
    if not job.output.is_file():
        result.output = ""
    return result


def _describe(result: NotebookResult, job: _Job, error: BaseException | None) -> None:
    nb = job.nb
    result.peak_kernel_mib = round(job.memory.kernel_mib, 1)
    result.peak_vm_mib = round(job.memory.vm_mib, 1)
    if nb is None:  # it never reached a kernel
        result.status = "error"
        result.message = _one_line(error) if error is not None else "it did not run"
        return
    code = [c for c in nb.cells if c.cell_type == "code"]
    result.cells = len(code)
    result.cells_run = sum(1 for c in code if c.get("execution_count") is not None)
    result.expected_failures = expected_failures(nb)
    result.failure = failed_cell(nb)
    running = None
    if job.current_cell is not None and job.current_cell < len(nb.cells):
        cell = nb.cells[job.current_cell]
        running = CellFailure(job.current_cell + 1, cell.get("execution_count"), cell.source)
    if job.stopped:
        result.status = "timed out"
        result.running_cell, result.failure = running, None
        result.message = f"stopped at its deadline of {job.timeout:g} s"
    elif error is not None:
        result.status = "kernel died" if type(error).__name__ == "DeadKernelError" else "error"
        result.running_cell = running if result.failure is None else None
        result.message = (
            "the Jupyter kernel died" if result.status == "kernel died" else _one_line(error)
        )
    elif result.failure is not None:
        result.status = "failed"
    else:
        result.status = "passed"
    if job.log_lines:
        result.kernel_log, result.kernel_log_source = job.log_lines, job.log_source
    elif not result.passed and job.console:
        result.kernel_log, result.kernel_log_source = job.console, "console"


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kernel_for(
    kernel_version: str | None, progress: Callable[[str], None] | None
) -> tuple[str, dict[str, str]]:
    """The release the batch runs on and the environment its kernels get."""
    if kernel_version is None:
        return Bundle.load().kernel_release, {}
    bundle = build_bundle(kernel_version, make_current=False,
                          progress=progress or (lambda message: None))  # fmt: skip
    return bundle.kernel_release, {RELEASE_ENV: bundle.kernel_release}


def _require_kernelspec(name: str) -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise SetupError(
            f"the Jupyter kernel {name!r} is not installed here: run `make setup` "
            "(or `kernelmagic kernelspec install`) in the environment you run this from"
        ) from None
