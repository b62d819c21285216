# SPDX-License-Identifier: MIT
"""Make a bare ``pytest --nbval notebooks`` use the lessons' sanitize file.

nbval reads ``--nbval-sanitize-with`` when it collects a notebook, which happens after
this conftest is loaded, so setting the option here works from any working directory.
An explicit ``--nbval-sanitize-with`` on the command line wins.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if hasattr(option, "nbval_sanitize_with") and option.nbval_sanitize_with is None:
        option.nbval_sanitize_with = str(SANITIZE)
