# SPDX-License-Identifier: MIT
"""The batch report without a VM: its JSON, its HTML, and how a notebook's run is read.

The runner's pieces that need no kernel are tried on notebooks made here: which cell
failed, which cells failed on purpose, what the command line makes of ``-p`` values,
and which notebooks and output folders it accepts.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from kernelmagic.batch import BatchReport, CellFailure, ExpectedFailure, NotebookResult
from kernelmagic.batch.cells import expected_failures, failed_cell
from kernelmagic.batch.command import parse_parameters
from kernelmagic.batch.html import render_html
from kernelmagic.batch.runner import _allow_expected_failures, collect_notebooks, run_batch
from kernelmagic.errors import UsageError


def _report() -> BatchReport:
    failed = NotebookResult(
        "04_params", "notebooks/04_params.ipynb", "04_params.ipynb", status="failed",
        seconds=61.5, cells=20, cells_run=9,
        failure=CellFailure(9, 7, "%%kmodule x\n<b>bold?</b>", "BuildError",
                            "cell line 19: error: expected ';'", "BuildError: cell line 19"),
        kernel_log=["[    3.1] x: <loaded>"], kernel_log_source="dmesg",
        expected_failures=[ExpectedFailure(13, False, "insmod params failed: EINVAL")],
        declared_parameters=["who"], unknown_parameters=["colour"],
        peak_kernel_mib=90.0, peak_vm_mib=180.0,
    )  # fmt: skip
    hung = NotebookResult(
        "hangs", "t/hangs.ipynb", "hangs.ipynb", status="timed out", seconds=40.2, cells=3,
        cells_run=2, message="stopped at its deadline of 40 s",
        running_cell=CellFailure(3, 2, "import time\ntime.sleep(3600)"),
        kernel_log=["----- console recording started -----"], kernel_log_source="console",
    )  # fmt: skip
    passed = NotebookResult("00_welcome", "n/00.ipynb", "00_welcome.ipynb", status="passed",
                            seconds=12.0, cells=13, cells_run=13)  # fmt: skip
    return BatchReport([passed, failed, hung], workers=2, timeout=40.0,
                       parameters={"colour": "red"}, kernel_name="kernelmagic",
                       kernel_release="6.1.0-57-amd64", started="2026-11-30T12:00:00+00:00",
                       seconds=101.7)  # fmt: skip


def test_the_json_round_trip_and_the_summary() -> None:
    report = _report()
    again = BatchReport.from_json(report.to_json())
    assert again == report and not again.ok
    assert report.summary() == "1 passed, 1 failed, 1 timed out of 3 in 1 min 42 s"
    assert report.notebooks[1].where() == (
        "cell 9 (In [7]): BuildError: cell line 19: error: expected ';'"
    )
    assert report.notebooks[2].where() == (
        "cell 3 (In [2]) was running: stopped at its deadline of 40 s"
    )


def test_the_html_is_self_contained_and_escaped() -> None:
    page = render_html(_report())
    assert "<script" not in page and "http" not in page.replace('href="#', "")
    assert "&lt;b&gt;bold?&lt;/b&gt;" in page and "<b>bold?</b>" not in page
    assert "x: &lt;loaded&gt;" in page
    assert page.count("<tr>") == 4  # the header and three notebooks
    assert "expected failure (caught in the cell): insmod params failed: EINVAL" in page
    assert "parameters it does not declare: colour" in page
    assert 'href="04_params.ipynb"' in page and 'id="nb-hangs"' in page
    assert "was running when it was stopped" in page


def _nb(*cells: object) -> object:
    return new_notebook(cells=list(cells))


def _error(ename: str, evalue: str) -> object:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"\x1b[31m{ename}\x1b[0m"])


def test_the_failed_cell_and_the_expected_failures() -> None:
    nb = _nb(
        new_code_cell("ok"),
        new_code_cell(
            "%insmod x",
            metadata={"tags": ["expected-failure"]},
            outputs=[_error("ModuleError", "no build of x")],
        ),
        new_code_cell(
            "try: ...",
            metadata={"tags": ["raises-exception"]},
            outputs=[new_output("stream", text="insmod failed: EINVAL\n")],
        ),
        new_code_cell("boom", outputs=[_error("CheckFailed", "1 of 2 checks passed")]),
    )
    failure = failed_cell(nb)
    assert failure == CellFailure(4, None, "boom", "CheckFailed", "1 of 2 checks passed",
                                  "CheckFailed")  # fmt: skip
    assert expected_failures(nb) == [
        ExpectedFailure(2, True, "ModuleError: no build of x"),
        ExpectedFailure(3, False, "insmod failed: EINVAL"),
    ]
    added = _allow_expected_failures(nb)
    assert added == [nb.cells[1]]  # nbval's own tag needs nothing added
    assert nb.cells[1].metadata["tags"] == ["expected-failure", "raises-exception"]


def test_parameters_are_typed_as_papermill_types_them() -> None:
    assert parse_parameters([["n", "3"], ["x", "0.5"], ["who", "Ada"], ["on", "True"],
                             ["none", "None"]]) == {
        "n": 3, "x": 0.5, "who": "Ada", "on": True, "none": None}  # fmt: skip
    with pytest.raises(UsageError, match="not a parameter name"):
        parse_parameters([["my-key", "1"]])


def test_which_notebooks_and_folders_are_taken(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for path in (
        tmp_path / "a" / "x.ipynb",
        tmp_path / "a" / "y.ipynb",
        tmp_path / "b" / "x.ipynb",
    ):
        nbformat.write(_nb(), path)
    (tmp_path / "a" / ".hidden.ipynb").write_text("{}")
    assert [p.name for p in collect_notebooks([tmp_path / "a"])] == ["x.ipynb", "y.ipynb"]
    with pytest.raises(UsageError, match=r"two notebooks are named x\.ipynb"):
        collect_notebooks([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(UsageError, match="does not exist"):
        collect_notebooks([tmp_path / "nothing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no notebook"):
        collect_notebooks([tmp_path / "empty"])
    with pytest.raises(UsageError, match="would overwrite"):
        run_batch([tmp_path / "a"], tmp_path / "a")
    with pytest.raises(UsageError, match="--workers must be 1 or more"):
        run_batch([tmp_path / "a"], tmp_path / "out", workers=0)
