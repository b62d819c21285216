# SPDX-License-Identifier: MIT
"""The course's Jupyter kernel: IPython with the kernelmagic extension already loaded.

A kernelspec rather than a line in each notebook, so that a learner's first cell can be a
``%%kmodule`` cell and a restarted kernel comes back with the magics in place. It is
installed into the environment that runs it (``.venv`` for ``make setup``), not into the
user's home, so removing the venv removes the kernel too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from kernelmagic.files import write_atomically

__all__ = ["DISPLAY_NAME", "NAME", "install", "main", "spec"]

NAME = "kernelmagic"
DISPLAY_NAME = "Kernel Lab (Python 3)"


def spec(python: str = sys.executable) -> dict[str, object]:
    """The kernel.json contents: ipykernel, started with our extension loaded."""
    return {
        "argv": [
            python,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--ext",
            NAME,
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
    }


def _copy_logos(dest: Path) -> None:
    """Reuse ipykernel's Python logos so the launcher shows a familiar icon."""
    try:
        from ipykernel.kernelspec import RESOURCES
    except ImportError:  # the logos are a nicety; the kernel works without them
        return
    for logo in Path(RESOURCES).glob("logo-*"):
        shutil.copyfile(logo, dest / logo.name)


def install(prefix: str = sys.prefix) -> Path:
    """Write the kernelspec into ``<prefix>/share/jupyter/kernels/kernelmagic``.

    Idempotent: a second call rewrites the same bytes. kernel.json is replaced atomically,
    so a Jupyter server listing kernels meanwhile never reads half a file.
    """
    dest = Path(prefix) / "share" / "jupyter" / "kernels" / NAME
    dest.mkdir(parents=True, exist_ok=True)
    _copy_logos(dest)
    write_atomically(dest / "kernel.json", json.dumps(spec(), indent=1) + "\n")
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kernelmagic.notebook.kernelspec",
        description=f"Install the {DISPLAY_NAME!r} Jupyter kernel.",
    )
    parser.add_argument(
        "--prefix",
        default=sys.prefix,
        help="environment to install into (default: the running one, %(default)s)",
    )
    args = parser.parse_args(argv)
    print(f"installed kernelspec {NAME!r} in {install(args.prefix)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
