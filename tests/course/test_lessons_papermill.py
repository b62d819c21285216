# SPDX-License-Identifier: MIT
"""Every lesson runs under papermill with non-default parameters, and shows their effect.

This is how instructors batch-run the lessons (and students' submissions): papermill
injects the parameters after the cell tagged ``parameters`` and executes the notebook on
the course's Jupyter kernel, which starts its own lab VM. Besides one ordinary change per
lesson, the edge cases are run too: values a lesson must handle (0 where 0 means "none",
text with quotes and ``$`` that must never reach a shell), and a value that makes no sense,
which the lesson must refuse at its top with a clear message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from kernelmagic.machine.bundle import Bundle

pytestmark = pytest.mark.integration

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# (lesson, parameters, texts the executed notebook's outputs must contain)
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("00_welcome", {"guest_command": "cat /proc/version"}, ["Linux version 6."]),
    ("01_what_modules_are", {"module_to_inspect": "fuse"}, ["module fuse", "fuse.ko"]),
    ("02_hello_kernel", {"who": "Kernel Hacker"},
     ["Hello, Kernel Hacker!", "Goodbye, Kernel Hacker!"]),
    ("02_hello_kernel", {"who": "O'Neil $HOME `id` & co"},
     ["Hello, O'Neil $HOME `id` & co!", "Goodbye, O'Neil $HOME `id` & co!"]),
    ("03_loading_and_unloading", {"real_module": "tcp_lp"},
     ["modprobe tcp_lp: loaded tcp_lp", "modprobe -r tcp_lp: unloaded tcp_lp"]),
    ("04_module_parameters", {"who": "Papermill Run", "count": 3},
     ["params: hello, Papermill Run.", "repeat: 3: Papermill Run", "times is 3 at unload"]),
    ("04_module_parameters", {"who": "O'Neil $HOME", "count": 0},
     ["who = O'Neil $HOME", "params: 3 numbers, sum 6", "repeat: times is 0 at unload"]),
    ("05_symbols_and_dependencies", {"symbol": "provider_secret"},
     ["provider_secret\t[provider]"]),
    ("05_symbols_and_dependencies", {"symbol": "no_such_symbol"},
     ["no_such_symbol is not in /proc/kallsyms"]),
    ("06_debugging", {"steps": 4}, ["sum of squares up to 4 is 30", "squares: 4 squared is 16"]),
    ("06_debugging", {"steps": 0}, ["sum of squares up to 0 is 0"]),
    ("07_best_practices", {"fail_at": 3},
     ["unwind: undo step 2, buffer freed", "init failed at step 3"]),
    ("07_best_practices", {"fail_at": 0},
     ["fail_at=0: no step failed", "unwind: everything released"]),
    ("08_procfs_and_sysfs", {"new_value": 1234},
     ["kmbox: value set to 1234", "the box holds 1234"]),
    ("08_procfs_and_sysfs", {"new_value": -7}, ["kmbox: value set to -7", "the box holds -7"]),
    ("09_char_device", {"message": "papermill was here"},
     ["length 18", "PAPERMILL WAS HERE", "kmupper: stored 18 bytes"]),
    ("09_char_device", {"message": 'say "hi" for $5 `now` \\ ok'},
     ['say "hi" for $5 `now` \\ ok', 'SAY "HI" FOR $5 `NOW` \\ OK', "length 26"]),
    ("10_concurrency", {"loops": 2000000},
     ["tally: 4000000 samples, sum 4000002000000: nothing lost", "once: updates lost: yes"]),
    ("11_sleeping_and_waking", {"rings": 12},
     ['read: 3 bytes, "12"', 'a read after 12 rings: read: 3 bytes, "12"']),
    ("12_time_and_deferred_work", {"period_ms": 100},
     ["heartbeat: a beat every 100 ms", "the kernel log has /heartbeat: stopped after"]),
    ("13_ioctl_done_right", {"amount": 1000},
     ["A: KMTALLY_ADD 1000: 0", "tallyctl printed 'A: KMTALLY_GET: count 2, sum 1001'"]),
    ("14_debugfs_and_seq_file", {"nrecords": 50},
     ["kmrecords: 50 records in /sys/kernel/debug/kmrecords", "  50 record-50        2500"]),
    ("15_device_model", {"brightness": 8},
     ["kmled kmled.0: red LED ready, brightness 8 of 10",
      "/sys/devices/platform/kmled.0/brightness reads '8'",
      "writing '2' to /sys/devices/platform/kmled.0/brightness"]),
    ("16_pci_driver", {"number": 5},
     ["edufact: 5! = 120", "/dev/edubell reads '5'", "edubell: interrupt with status 0x5"]),
    ("16_pci_driver", {"number": 12}, ["edufact: 12! = 479001600", "/dev/edubell reads '12'"]),
    ("17_dma_and_mmap", {"message": "Ada, a message, 2 ways!"},
     ["the device wrote at offset 2048: Ada, a message, 2 ways!",
      "23 bytes RAM -> device at offset 0",
      "edupeek 'Ada, a message, 2 ways!' printed"]),
]  # fmt: skip

# (lesson, parameters that make no sense, the start of the message the lesson must give)
NONSENSE: list[tuple[str, dict[str, Any], str]] = [
    ("07_best_practices", {"fail_at": 7}, "parameter fail_at = 7 is not valid"),
    ("04_module_parameters", {"count": -1}, "parameter count = -1 is not valid"),
    ("09_char_device", {"message": ""}, "parameter message = '' is not valid"),
    ("10_concurrency", {"loops": 10}, "parameter loops = 10 is not valid"),
    ("11_sleeping_and_waking", {"rings": 0}, "parameter rings = 0 is not valid"),
    ("12_time_and_deferred_work", {"period_ms": 10}, "parameter period_ms = 10 is not valid"),
    ("13_ioctl_done_right", {"amount": 2**32 - 1}, "parameter amount = 4294967295 is not valid"),
    ("14_debugfs_and_seq_file", {"nrecords": 0}, "parameter nrecords = 0 is not valid"),
    ("15_device_model", {"brightness": 11}, "parameter brightness = 11 is not valid"),
    ("16_pci_driver", {"number": 13}, "parameter number = 13 is not valid"),
    ("17_dma_and_mmap", {"message": "O'Neil"}, 'parameter message = "O\'Neil" is not valid'),
]


@pytest.fixture(scope="module")
def course_kernel(bundle: Bundle) -> str:
    """The course's Jupyter kernel; without it (or the bundle) these tests fail."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("kernelmagic")
    except NoSuchKernel:
        pytest.fail("the kernelmagic Jupyter kernel is not installed (make setup)")
    return "kernelmagic"


def _output_text(nb: Any) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}")
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


def _run(lesson: str, parameters: dict[str, Any], out: Path, kernel: str) -> Any:
    import papermill

    papermill.execute_notebook(
        str(NOTEBOOKS / f"{lesson}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name=kernel,
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=300,
    )
    return nbformat.read(out, as_version=4)


def test_every_lesson_has_a_case() -> None:
    lessons = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted({lesson for lesson, _p, _e in CASES}) == lessons


@pytest.mark.parametrize(
    ("lesson", "parameters", "expected"), CASES,
    ids=[f"{lesson}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for lesson, p, _e in CASES],
)  # fmt: skip
def test_lesson_under_papermill(
    lesson: str, parameters: dict[str, Any], expected: list[str], tmp_path: Path,
    course_kernel: str,
) -> None:  # fmt: skip
    nb = _run(lesson, parameters, tmp_path / f"{lesson}.ipynb", course_kernel)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill did not inject the parameters"
    text = _output_text(nb)
    for snippet in expected:
        assert snippet in text, f"{lesson} {parameters}: {snippet!r} not in the outputs"


@pytest.mark.parametrize(
    ("lesson", "parameters", "message"), NONSENSE,
    ids=[f"{lesson}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for lesson, p, _m in NONSENSE],
)  # fmt: skip
def test_nonsense_parameter_is_refused_at_the_top(
    lesson: str, parameters: dict[str, Any], message: str, tmp_path: Path, course_kernel: str,
) -> None:  # fmt: skip
    import papermill

    out = tmp_path / f"{lesson}.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as info:
        _run(lesson, parameters, out, course_kernel)
    assert message in str(info.value)
    nb = nbformat.read(out, as_version=4)
    failed = next(
        c for c in nb.cells
        if any(o.get("output_type") == "error" for o in c.get("outputs", []))
    )  # fmt: skip
    assert "course.require_parameter" in failed.source, "the lesson should refuse it at its top"
