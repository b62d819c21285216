# SPDX-License-Identifier: MIT
"""A printk flood: the cell shows a bounded excerpt, and the lab answers right after."""

from __future__ import annotations

import pytest

from kernelmagic.notebook.views import LoadResult
from kernelmagic.notebook.views.modules import EXCERPT_HEAD, EXCERPT_TAIL
from tests.faults.conftest import FaultLab

pytestmark = pytest.mark.integration

FLOOD = """#include <linux/module.h>

static int __init kmf_flood_init(void)
{
\tint i;

\tfor (i = 0; i < 100000; i++)
\t\tpr_info("kmf_flood: line %d\\n", i);
\tpr_info("kmf_flood: done\\n");
\treturn 0;
}

static void __exit kmf_flood_exit(void)
{
}
module_init(kmf_flood_init);
module_exit(kmf_flood_exit);
MODULE_LICENSE("GPL");
"""


def test_printk_flood(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_flood\n{FLOOD}")
    result = lab.ok("%insmod kmf_flood")
    assert isinstance(result, LoadResult)
    lines = repr(result).splitlines()
    assert lines[0] == "kmf_flood loaded"
    assert lines[-1] == "  kmf_flood: done"
    left_out = [line for line in lines if "lines left out" in line]
    assert len(left_out) == 1, lines[:5]
    assert int(left_out[0].split()[1]) > 90000
    assert len(lines) <= 1 + EXCERPT_HEAD + 1 + EXCERPT_TAIL + 2  # bounded, whatever came
    assert repr(lab.ok("%vmsh echo answering")) == "answering"
    lab.ok("%rmmod kmf_flood")
