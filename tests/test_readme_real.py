# SPDX-License-Identifier: MIT
"""README's plain-Python example runs as written, against the real lab VM."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_python_example_greets_and_says_goodbye(bundle: Any) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no Python example"
    proc = subprocess.run([sys.executable, "-c", blocks[0]], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Hello, Ada!" in proc.stdout and "Goodbye, Ada!" in proc.stdout
