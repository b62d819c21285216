# SPDX-License-Identifier: MIT
"""Every lesson runs under papermill with a non-default parameter, and shows its effect.

This is how instructors batch-run the lessons (and students' submissions): papermill
injects the parameters after the cell tagged ``parameters`` and executes the notebook on
the course's Jupyter kernel, which starts its own lab VM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# lesson -> (parameters, texts the executed notebook's outputs must contain)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "00_welcome": ({"guest_command": "cat /proc/version"}, ["Linux version 6."]),
    "01_what_modules_are": ({"module_to_inspect": "fuse"}, ["module fuse", "fuse.ko"]),
    "02_hello_kernel": (
        {"who": "Kernel Hacker"},
        ["Hello, Kernel Hacker!", "Goodbye, Kernel Hacker!"],
    ),
    "03_loading_and_unloading": ({"real_module": "tcp_lp"}, ["modprobe tcp_lp: loaded tcp_lp"]),
    "04_module_parameters": (
        {"who": "Papermill Run", "count": 3},
        ["params: hello, Papermill Run.", "params: count was 3 at unload"],
    ),
    "05_symbols_and_dependencies": ({"symbol": "provider_secret"}, ["provider_secret\t[provider]"]),
    "06_debugging": ({"steps": 4}, ["sum of squares up to 4 is 30"]),
    "07_best_practices": (
        {"fail_at": 3},
        ["unwind: undo step 2, buffer freed", "init failed at step 3"],
    ),
    "08_procfs_and_sysfs": ({"new_value": 1234}, ["sysfs_demo: value set to 1234"]),
    "09_char_device": ({"message": "papermill was here"}, ["length 18", "stored 18 bytes"]),
}


def _skip_without_lab() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from kernelmagic.errors import KernelMagicError

    try:
        KernelSpecManager().get_kernel_spec("kernelmagic")
    except NoSuchKernel:
        pytest.skip("the kernelmagic Jupyter kernel is not installed (make setup)")
    try:
        from kernelmagic.bundle import Bundle

        Bundle.load()
    except (KernelMagicError, OSError) as exc:
        pytest.skip(f"no lab VM bundle: {exc}")


def _output_text(nb: Any) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def test_every_lesson_has_a_case() -> None:
    assert sorted(CASES) == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("lesson", sorted(CASES))
def test_lesson_under_papermill(lesson: str, tmp_path: Path) -> None:
    _skip_without_lab()
    import papermill

    parameters, expected = CASES[lesson]
    out = tmp_path / f"{lesson}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{lesson}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name="kernelmagic",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=300,
    )
    nb = nbformat.read(out, as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill did not inject the parameters"
    text = _output_text(nb)
    for snippet in expected:
        assert snippet in text, f"{lesson}: {snippet!r} not in the outputs"
