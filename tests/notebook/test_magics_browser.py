# SPDX-License-Identifier: MIT
"""JupyterLab in headless Chromium: a %%kmodule cell is highlighted as C, runs, and renders.

A %%userprog cell (not run) is highlighted as C as well.

Starts a JupyterLab server on a free port with the prebuilt extension from
``kernelmagic/notebook/labextension`` (through ``extra_labextensions_path``, so the test checks the
files in the repository, installed or not), opens a notebook on the course kernel, runs a
``%%kmodule --load`` cell and looks at the page. The screenshot is kept in
``tests/artifacts/`` for a human to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.machine.bundle import Bundle

pytestmark = [pytest.mark.integration, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
TOKEN = "kernelmagic-browser-test"
CELL = """%%kmodule kmt_browser --load
#include <linux/module.h>

static int __init kmt_browser_init(void)
{
\tpr_info("kmt_browser: hello <b>browser</b>\\n");
\treturn 0;
}
static void __exit kmt_browser_exit(void) { }
module_init(kmt_browser_init);
module_exit(kmt_browser_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Seen in a browser");"""
PYTHON_CELL = "# include is a comment in Python\nstatic = 1"
USERPROG_CELL = """%%userprog kmt_hi
#include <stdio.h>

int main(void)
{
\tputs("hi");
\treturn 0;
}"""

# The colour CodeMirror gives the first token of each cell: the same colour for
# "#include" as for a Python comment would mean the C cell is highlighted as Python.
FIRST_TOKENS = """() => [...document.querySelectorAll('.jp-Notebook .jp-Cell .cm-content')]
  .map(cell => [...cell.querySelectorAll('span')]
    .filter(s => s.textContent.startsWith('#'))
    .map(s => [s.textContent, getComputedStyle(s).color])[0])"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(port: int, path: str, method: str = "GET") -> object:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}?token={TOKEN}", method=method)
    with urllib.request.urlopen(request, timeout=10) as reply:
        body = reply.read()
    return json.loads(body) if body else None


@pytest.fixture
def jupyterlab(bundle: Bundle) -> Iterator[tuple[int, Path]]:
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright")
    nbformat = pytest.importorskip("nbformat")
    with tempfile.TemporaryDirectory(prefix="kmt-browser-") as tmp:
        root, extensions = Path(tmp) / "root", Path(tmp) / "labextensions"
        root.mkdir()
        extensions.mkdir()
        built = ROOT / "kernelmagic" / "notebook" / "labextension"
        (extensions / "kernelmagic-highlight").symlink_to(built)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "kernelmagic", "language": "python",
                                     "display_name": "Kernel Lab (Python 3)"}  # fmt: skip
        nb.cells = [nbformat.v4.new_code_cell(source)
                    for source in (CELL, PYTHON_CELL, USERPROG_CELL)]  # fmt: skip
        nbformat.write(nb, root / "lesson.ipynb")
        port = _free_port()
        jupyter = shutil.which("jupyter", path=str(Path(sys.executable).parent)) or "jupyter"
        log = (Path(tmp) / "lab.log").open("w")
        server = subprocess.Popen(
            [jupyter, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root",
             f"--LabApp.extra_labextensions_path={extensions}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _api(port, "/api/status")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        pytest.fail(
                            "JupyterLab did not start: " + (Path(tmp) / "lab.log").read_text()
                        )
                    time.sleep(0.2)
            yield port, root
        finally:
            # Shut the kernels down through the server, so each stops its lab VM at exit.
            try:
                for kernel in _api(port, "/api/kernels") or []:  # type: ignore[union-attr]
                    _api(port, f"/api/kernels/{kernel['id']}", method="DELETE")  # type: ignore[index]
            except OSError:
                pass
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
            log.close()


def test_kmodule_cell_is_c_and_its_results_render(jupyterlab: tuple[int, Path]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    port, _ = jupyterlab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/lesson.ipynb?token={TOKEN}")
            page.wait_for_function(
                "document.querySelectorAll('.jp-Notebook .jp-Cell .cm-content').length >= 3",
                timeout=90_000,
            )
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']",
                                   timeout=90_000)  # fmt: skip
            # Highlighting comes after the language loads, and a busy machine may show a
            # first pass before the C overlay: wait (30 s at most) for the magic cells'
            # "#include" to be a token of its own; the asserts below say what went wrong.
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(
                    f"(t => t.every(Boolean) && t[0][0] === '#include' && t[2][0] === '#include')"
                    f"(({FIRST_TOKENS})())",
                    timeout=30_000,
                )
            c_token, python_token, userprog_token = page.evaluate(FIRST_TOKENS)
            assert c_token[0] == "#include" and python_token[0].startswith("# include")
            assert c_token[1] != python_token[1], "the %%kmodule cell is highlighted as Python"
            assert userprog_token[0] == "#include"
            assert userprog_token[1] == c_token[1], "the %%userprog cell is not highlighted as C"

            page.click(".jp-Notebook .jp-Cell:first-child .cm-content")
            page.keyboard.press("Shift+Enter")
            output = page.wait_for_selector(
                ".jp-Cell:first-child .jp-OutputArea-output:has-text('kmt_browser loaded')",
                timeout=180_000,
            )
            assert output is not None
            text = page.inner_text(".jp-Cell:first-child .jp-OutputArea")
            assert "lab VM ready in" in text
            assert "Seen in a browser" in text  # the module card
            assert "kmt_browser: hello <b>browser</b>" in text  # escaped, not bold
            page.screenshot(path=str(ARTIFACTS / "kmodule-cell.png"), full_page=True)
        finally:
            browser.close()
