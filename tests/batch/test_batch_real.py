# SPDX-License-Identifier: MIT
"""``kernelmagic batch run`` for real: papermill, the course's Jupyter kernel, lab VMs.

- two lessons with two workers, a parameter only one of them declares;
- a notebook that hangs, one that fails (with a cell that fails on purpose before it),
  one that is not a notebook at all, and the template lesson of ``course new``, two at a
  time: the hung one is stopped at its deadline, the others are not held up, and the
  reports (JSON, and HTML opened in headless Chromium, screenshot kept in
  ``tests/artifacts/``) say what happened;
- no Jupyter kernel and no QEMU of a batch outlives it.

The test notebooks are made here, not kept under ``tests/``: ``make test`` hands every
notebook below ``tests/`` to nbval, which would wait for the hanging one.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kernelmagic.batch import BatchReport, run_batch
from kernelmagic.batch.command import EXIT_NOT_ALL_PASSED, run_command
from kernelmagic.course.template import new_lesson
from kernelmagic.machine.bundle import Bundle

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
KERNELSPEC = {"name": "kernelmagic", "display_name": "Kernel Lab (Python 3)", "language": "python"}

GOOD = """%%kmodule kmt_batch_ok --load
#include <linux/module.h>
static int __init kmt_batch_ok_init(void) { pr_info("kmt_batch_ok: here\\n"); return 0; }
static void __exit kmt_batch_ok_exit(void) { }
module_init(kmt_batch_ok_init);
module_exit(kmt_batch_ok_exit);
MODULE_LICENSE("GPL");"""

BAD = """%%kmodule kmt_batch_bad
#include <linux/module.h>

static int __init kmt_batch_bad_init(void)
{
\treturn undeclared_thing;
}
module_init(kmt_batch_bad_init);
MODULE_LICENSE("GPL");"""


def _write(path: Path, *cells: Any) -> Path:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = KERNELSPEC
    nbformat.write(nb, path)
    return path


@pytest.fixture
def kernel_mark() -> Iterator[str]:
    """A mark every process of the batch inherits, to find any that outlive it."""
    mark = f"kmt-batch-{uuid.uuid4().hex}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KMT_BATCH_MARK", mark)
        yield mark


def _left_behind(mark: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and f"KMT_BATCH_MARK={mark}".encode() in (
                (proc / "environ").read_bytes().split(b"\0")
            ):
                found.append(f"{proc.name} {(proc / 'comm').read_text().strip()}")
        except OSError:
            continue
    return found


def test_two_lessons_with_two_workers(bundle: Bundle, tmp_path: Path, kernel_mark: str) -> None:
    lessons = [NOTEBOOKS / "00_welcome.ipynb", NOTEBOOKS / "02_hello_kernel.ipynb"]
    events: list[str] = []
    report = run_batch(lessons, tmp_path / "out", parameters={"who": "Batch Runner"},
                       workers=2, timeout=600,
                       on_event=lambda e: events.append(f"{e.kind} {e.name}"))  # fmt: skip
    assert [r.status for r in report.notebooks] == ["passed", "passed"], report.to_json()
    welcome, hello = report.notebooks
    assert welcome.unknown_parameters == ["who"] and welcome.declared_parameters
    assert hello.unknown_parameters == [] and hello.cells_run == hello.cells
    executed = nbformat.read(tmp_path / "out" / "02_hello_kernel.ipynb", as_version=4)
    text = "\n".join(str(o) for c in executed.cells for o in c.get("outputs", []))
    assert "Hello, Batch Runner!" in text
    assert sorted(events) == sorted(f"{k} {n}" for k in ("started", "finished")
                                    for n in ("00_welcome", "02_hello_kernel"))  # fmt: skip
    assert all(r.peak_vm_mib > 50 and r.peak_kernel_mib > 20 for r in report.notebooks)
    assert BatchReport.read(tmp_path / "out") == report
    assert "2 passed of 2" in (tmp_path / "out" / "report.html").read_text()
    assert _left_behind(kernel_mark) == []


@pytest.fixture(scope="module")
def troubled(bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One batch: a notebook that hangs, one that fails, and the template lesson."""
    root = tmp_path_factory.mktemp("batch")
    source = root / "notebooks"
    source.mkdir()
    _write(source / "hangs.ipynb",
           new_markdown_cell("A notebook that never ends"),
           new_code_cell("%vmsh echo the lab VM runs"),
           new_code_cell("import time\ntime.sleep(3600)"),
           new_code_cell("print('never reached')"))  # fmt: skip
    _write(source / "fails.ipynb",
           new_code_cell(GOOD),
           new_code_cell("%insmod kmt_never_built", metadata={"tags": ["expected-failure"]}),
           new_code_cell(BAD),
           new_code_cell("print('never reached')"))  # fmt: skip
    new_lesson("18_template", source, module="kmt_template")
    (source / "broken.ipynb").write_text('{"cells": [')  # cut short
    mark = f"kmt-batch-{uuid.uuid4().hex}"
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KMT_BATCH_MARK", mark)
        status = run_command([source], root / "out", workers=2, timeout=60, stream=out)
    yield {"status": status, "out": root / "out", "printed": out.getvalue(), "mark": mark,
           "report": BatchReport.read(root / "out")}  # fmt: skip


def test_a_hung_notebook_is_stopped_and_the_others_go_on(troubled: dict[str, Any]) -> None:
    report: BatchReport = troubled["report"]
    results = {r.name: r for r in report.notebooks}
    assert troubled["status"] == EXIT_NOT_ALL_PASSED and not report.ok
    assert {n: r.status for n, r in results.items()} == {
        "18_template": "passed", "broken": "error", "fails": "failed",
        "hangs": "timed out"}  # fmt: skip
    assert results["broken"].message.startswith("not a notebook that can run: ")
    assert results["broken"].output == "" and results["hangs"].output == "hangs.ipynb"
    hung = results["hangs"]
    assert hung.running_cell is not None and hung.running_cell.cell == 3
    assert "time.sleep(3600)" in hung.running_cell.source
    assert 60 <= hung.seconds < 90 and hung.message == "stopped at its deadline of 60 s"
    assert hung.cells_run == 2 and hung.kernel_log_source == "console"
    # The other two ran beside it, not after it.
    assert results["fails"].seconds + results["18_template"].seconds < 90
    assert _left_behind(troubled["mark"]) == []


def test_the_failing_cell_its_error_and_the_kernel_log(troubled: dict[str, Any]) -> None:
    failed = next(r for r in troubled["report"].notebooks if r.name == "fails")
    assert failed.failure is not None and failed.failure.cell == 3
    assert failed.failure.ename == "BuildError"
    # the cell's own line 6 (the %%kmodule line is line 1), as the cell's output says
    assert failed.failure.evalue.startswith("cell line 6: error: 'undeclared_thing' undeclared")
    assert failed.kernel_log_source == "dmesg"
    assert any(line.endswith("] kmt_batch_ok: here") for line in failed.kernel_log)
    [expected] = failed.expected_failures
    assert expected.cell == 2 and expected.raised
    assert expected.summary == "ModuleError: no build of kmt_never_built in this notebook yet"
    executed = nbformat.read(troubled["out"] / "fails.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code"]
    assert ["expected-failure"] in tags  # the run's own raises-exception tag is gone again


def test_the_terminal_shows_done_running_and_failed(troubled: dict[str, Any]) -> None:
    printed = troubled["printed"]
    assert "  started  hangs" in printed and "  TIMED OUT hangs" in printed
    assert "  FAILED   fails" in printed and "cell 3 (In [3]): BuildError: cell line 6" in printed
    assert "[4 done, 0 running, 3 failed]" in printed
    assert printed.rstrip().endswith(f"report: {troubled['out'] / 'report.html'}")


@pytest.mark.browser
def test_the_html_report_renders_in_chromium(troubled: dict[str, Any]) -> None:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")
    from playwright.sync_api import sync_playwright

    page_path = troubled["out"] / "report.html"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(page_path.as_uri())
            rows = page.locator("tbody tr")
            assert rows.count() == 4
            text = page.inner_text("body")
            expected = ["Batch run: not every notebook passed", "timed out", "failed",
                        "passed", "was running when it was stopped",
                        "cell 2: expected failure: ModuleError", "kmt_batch_ok: here"]  # fmt: skip
            for words in expected:
                assert words in text, words
            badge = page.locator("td .badge", has_text="timed out")
            assert (
                badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 248, 197)"
            )
            page.screenshot(path=str(ARTIFACTS / "batch-report.png"), full_page=True)
        finally:
            browser.close()
    assert os.path.getsize(ARTIFACTS / "batch-report.png") > 10_000
