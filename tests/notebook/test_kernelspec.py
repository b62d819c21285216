# SPDX-License-Identifier: MIT
"""The course kernelspec: where it goes, what it runs, and that ipykernel understands it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kernelmagic.notebook import kernelspec


def test_install_writes_the_spec_under_the_prefix(tmp_path: Path) -> None:
    dest = kernelspec.install(str(tmp_path))
    assert dest == tmp_path / "share" / "jupyter" / "kernels" / "kernelmagic"
    spec = json.loads((dest / "kernel.json").read_text())
    assert spec["display_name"] == "Kernel Lab (Python 3)"
    assert spec["language"] == "python"
    assert spec["argv"][:3] == [sys.executable, "-m", "ipykernel_launcher"]
    assert "{connection_file}" in spec["argv"]


def test_install_is_idempotent(tmp_path: Path) -> None:
    first = (kernelspec.install(str(tmp_path)) / "kernel.json").read_bytes()
    dest = kernelspec.install(str(tmp_path))
    assert (dest / "kernel.json").read_bytes() == first
    assert not [p for p in dest.iterdir() if p.name.startswith(".kernel.json.")]


def test_ipykernel_loads_the_extension_from_the_spec_argv(tmp_path: Path) -> None:
    from ipykernel.kernelapp import IPKernelApp

    argv = kernelspec.spec()["argv"]
    args = [a.replace("{connection_file}", str(tmp_path / "c.json")) for a in argv[3:]]
    app = IPKernelApp()
    app.parse_command_line(args)
    assert app.extra_extensions == ["kernelmagic"]
