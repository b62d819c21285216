# SPDX-License-Identifier: MIT
"""`kernelmagic run` against the real lab VM: a crash is shown at the file's own line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.cli.app import EXIT_LOAD

pytestmark = pytest.mark.integration

CRASH_C = """\
#include <linux/module.h>
MODULE_LICENSE("GPL");

static int *nowhere;

static int __init nullrun_init(void)
{
	*nowhere = 1;
	return 0;
}
module_init(nullrun_init);
"""


def test_run_decodes_an_oops_in_init_to_the_file_line(bundle: Any, tmp_path: Path) -> None:
    source = tmp_path / "nullrun.c"
    source.write_text(CRASH_C)
    proc = subprocess.run(
        [sys.executable, "-m", "kernelmagic.cli", "run", str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == EXIT_LOAD, proc.stderr
    assert "NULL pointer dereference" in proc.stderr
    assert "nullrun.c:8" in proc.stderr, proc.stderr  # *nowhere = 1;
    assert "*nowhere = 1;" in proc.stderr
