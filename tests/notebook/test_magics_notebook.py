# SPDX-License-Identifier: MIT
"""A notebook on the course kernel through papermill, then nbval: failed cells, clean outputs.

What the magics promise to the instructors' tools: a learner's error fails the cell with
an ``error`` output of one line (papermill raises on it, nbval reports it), and the live
boot progress leaves nothing behind that nbval would compare.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kernelmagic.machine.bundle import Bundle

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HELLO = """#include <linux/module.h>
static int __init kmt_nb_init(void) { pr_info("kmt_nb says hello\\n"); return 0; }
static void __exit kmt_nb_exit(void) { }
module_init(kmt_nb_init);
module_exit(kmt_nb_exit);
MODULE_LICENSE("GPL");
"""


def test_papermill_fails_on_a_learner_error_and_nbval_accepts_the_outputs(
    bundle: Bundle,
) -> None:
    nbformat = pytest.importorskip("nbformat")
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("kernelmagic")
    except NoSuchKernel:
        pytest.fail("the kernelmagic Jupyter kernel is not installed: run `make setup`")

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "kernelmagic", "display_name": "Kernel Lab (Python 3)",
                                 "language": "python"}  # fmt: skip
    nb.cells = [
        nbformat.v4.new_code_cell(f"%%kmodule kmt_nb --load\n{HELLO}"),
        nbformat.v4.new_code_cell("%insmod kmt_nb"),
    ]
    with tempfile.TemporaryDirectory(prefix="kmt-notebook-") as tmp:
        src, out = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        nbformat.write(nb, src)
        with pytest.raises(papermill.PapermillExecutionError) as failure:
            papermill.execute_notebook(str(src), str(out), kernel_name="kernelmagic",
                                       progress_bar=False, cwd=tmp)  # fmt: skip
        assert failure.value.ename == "ModuleError"
        done = nbformat.read(out, 4)
        cells = [c for c in done.cells if c.cell_type == "code"]
        first = [json.dumps(o.get("data", {})) for o in cells[0].outputs]
        assert '"model_id": ""' in first[0]  # the progress bar, hidden once the VM was up
        assert "lab VM ready in" in first[1]
        assert "kmt_nb says hello" in first[2]
        error = [o for o in cells[1].outputs if o.output_type == "error"]
        assert len(error) == 1 and len(error[0].traceback) == 1
        assert "File exists" in error[0].traceback[0]

        # nbval re-runs the executed notebook and compares outputs (the failing cell is
        # expected to fail); the sanitize file masks build times and the like.
        cells[1].metadata["tags"] = ["raises-exception"]
        done.cells = cells
        nbformat.write(done, out)
        sanitize = ROOT / "notebooks" / "nbval_sanitize.cfg"
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                str(out), f"--rootdir={tmp}"]  # fmt: skip
        if sanitize.is_file():
            argv.append(f"--nbval-sanitize-with={sanitize}")
        run = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp,
                             check=False)  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
