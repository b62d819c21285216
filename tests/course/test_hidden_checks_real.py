# SPDX-License-Identifier: MIT
"""Each hidden check catches the wrong answer its visible check lets through.

For every lesson with a hidden check (``### BEGIN HIDDEN TESTS``), the exercise runs as
in ``test_exercises_real.py``, with the solution replaced by a plausible wrong one: a
message written in instead of read from the kernel, a farewell printed at load time, a
sum that only fits the default parameter, ``toupper()`` where only ``a``-``z`` may
change, and for 10-17: count and sum locked apart, -EINTR that no SA_RESTART restarts,
a timer re-armed at an absolute time long past, an ioctl's __u32 read as a char, a
writable debugfs count, the module parameter instead of the platform data, a u8
interrupt status, and an mmap() that ignores vm_pgoff. The visible checks must pass
(that is what makes the answer a trap), and the hidden check must fail, with a hint.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from kernelmagic.course.results import CheckFailed
from tests.course.test_exercises_real import NOTEBOOKS, Lab, exercise_cells, lab  # noqa: F401

pytestmark = pytest.mark.integration

_REGION = re.compile(
    r"[ \t]*/\* BEGIN SOLUTION \*/\n(?P<body>.*?)\n[ \t]*/\* END SOLUTION \*/", re.S
)
_MORNING = '\tpr_info("greet: good morning, kernel\\n");'

#: For each lesson, the wrong answer: one text per solution region (None keeps it), or a
#: function of the whole solution cell.
WRONG = {
    "00_welcome": ['\tpr_info("welcome: running in Linux 6.1.0-57-amd64 on x86_64\\n");\n'
                   '\tpr_info("welcome: this machine is called kernelmagic\\n");'],
    "01_what_modules_are": ['\tpr_info("whoami: I am whoami, state coming\\n");',
                            '\tpr_info("whoami: whoami leaving, state going\\n");'],
    "02_hello_kernel": [
        "static int __init greet_init(void)\n{\n" + _MORNING
        + '\n\tpr_info("greet: good night, kernel\\n");\n\treturn 0;\n}\n\n'
        "static void __exit greet_exit(void)\n{\n}\n\n"
        "module_init(greet_init);\nmodule_exit(greet_exit);", None],
    "03_loading_and_unloading": ["\tcrc16_value = 0x0b15 + crc16(0, (const u8 *)text, 0);\n"
                                 "\tcrc32_value = 0xec103b08;"],
    "04_module_parameters": lambda cell: cell.replace(
        '\tfor (i = 0; i < times && i < 5; i++)\n\t\tpr_info("repeat: %d: %s\\n", i + 1, word);',
        '\tpr_info("repeat: %d: %s\\n", times, word);\n\t(void)i;'),
    "05_symbols_and_dependencies": [None, "\ttotal = provider_add(42, 1);"],
    "06_debugging": [None, '\t\tpr_debug("%d squared is %d\\n", i, i * i);\n\t\ttotal = 14;'],
    "07_best_practices": ["\tkfree(second);",
                          '\tkfree(first);\n\tpr_info("ladder: undo step 2\\n");\n'
                          '\tpr_info("ladder: undo step 1\\n");', None],
    "08_procfs_and_sysfs": ['\tseq_printf(m, "the box holds 42\\n");', None],
    "09_char_device": lambda cell: cell.replace(
        "\t\tif (chunk[i] >= 'a' && chunk[i] <= 'z')\n\t\t\tchunk[i] -= 'a' - 'A';",
        "\t\tchunk[i] = toupper(chunk[i]);").replace(
        "#include <linux/uaccess.h>", "#include <linux/uaccess.h>\n#include <linux/ctype.h>"),
    "10_concurrency": [None, "\tspin_lock(&tally_lock);\n\ttally.count++;\n"
                             "\tspin_unlock(&tally_lock);\n\tspin_lock(&tally_lock);\n"
                             "\ttally.sum += sample;\n\tspin_unlock(&tally_lock);\n\treturn;"],
    "11_sleeping_and_waking": lambda cell: cell.replace(
        "\t\t\treturn -ERESTARTSYS;", "\t\t\treturn -EINTR;"),
    "12_time_and_deferred_work": ["\tmod_timer(&beat_timer, msecs_to_jiffies(period_ms));", None],
    "13_ioctl_done_right": lambda cell: cell.replace(
        "get_user(value, (u32 __user *)arg)", "get_user(value, (char __user *)arg)"),
    "14_debugfs_and_seq_file": [None, None,
                                '\tdebugfs_create_u32("count", 0644, dir, &count);', None],
    "15_device_model": lambda cell: cell.replace(
        "\tled->brightness = pdata->default_brightness;", "\tled->brightness = brightness;"),
    "16_pci_driver": lambda cell: cell.replace(
        "\tu32 status = ioread32(bell->regs + EDU_IRQ_STATUS);",
        "\tu8 status = ioread32(bell->regs + EDU_IRQ_STATUS);"),
    "17_dma_and_mmap": lambda cell: cell.replace(
        "\tif (size > EDU_BUF_SIZE || vma->vm_pgoff != 0)", "\tif (size > EDU_BUF_SIZE)"),
}  # fmt: skip

HIDDEN = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
                if "BEGIN HIDDEN TESTS" in p.read_text())  # fmt: skip


def wrong_answer(lesson: str, cell: str) -> str:
    how = WRONG[lesson]
    if callable(how):
        return how(cell)
    texts = iter(how)

    def swap(match: re.Match[str]) -> str:
        text = next(texts)
        indent = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        return indent + "/* wrong */\n" + (match["body"] if text is None else text)

    return _REGION.sub(swap, cell)


def test_every_lesson_with_a_hidden_check_has_a_wrong_answer_here() -> None:
    assert [p.stem for p in HIDDEN] == sorted(WRONG)


@pytest.mark.parametrize("lesson", HIDDEN, ids=[p.stem for p in HIDDEN])
def test_the_hidden_check_catches_what_the_visible_one_lets_through(lesson: Path, lab: Lab) -> None:  # noqa: F811
    cells = exercise_cells(lesson)
    nb = nbformat.read(lesson, as_version=4)
    exercises = [c.source for c in nb.cells if "/* BEGIN SOLUTION */" in c.source]
    assert len(exercises) == 1, lesson.name
    wrong = wrong_answer(lesson.stem, exercises[0])
    assert wrong != exercises[0]
    lab.clean()
    errors = lab.run([wrong if source == exercises[0] else source for source in cells])
    lab.clean()
    assert len(errors) == 1, f"{lesson.name}: {[(s[:60], e) for s, e in errors]}"
    source, error = errors[0]
    assert "BEGIN HIDDEN TESTS" in source, f"{lesson.name}: a visible check failed: {error}"
    assert isinstance(error, CheckFailed) and error.hint, f"{lesson.name}: {error!r}"
