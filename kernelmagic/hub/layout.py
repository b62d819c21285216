# SPDX-License-Identifier: MIT
"""Where a course server keeps its parts, all under one prefix.

One folder means an administrator can see, back up or remove the whole server, and the
tests can install one into a temporary folder without touching the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_PREFIX", "LESSONS_FOLDER", "UNIT_NAME", "HubLayout"]

DEFAULT_PREFIX = Path("/opt/kernelmagic-hub")
#: The folder in each learner's home that receives the lessons.
LESSONS_FOLDER = "kernelmagic-course"
UNIT_NAME = "kernelmagic-hub.service"


@dataclass(frozen=True)
class HubLayout:
    """The paths of one install; nothing here touches the disk."""

    prefix: Path

    @property
    def venv(self) -> Path:
        """The environment every learner's server and kernel run from (world-readable)."""
        return self.prefix / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def bundle(self) -> Path:
        """The VM bundle, shared read-only: learners get it as ``KERNELMAGIC_BUNDLE_DIR``."""
        return self.prefix / "bundle"

    @property
    def lessons(self) -> Path:
        """The course's notebooks, copied into each learner's home at login."""
        return self.prefix / "lessons"

    @property
    def instructor_lessons(self) -> Path:
        """The full lessons (solutions, hidden checks) for the instructor's nbgrader course:
        the first instructor's alone, mode 0700."""
        return self.prefix / "instructor-lessons"

    @property
    def node(self) -> Path:
        """configurable-http-proxy, installed with npm."""
        return self.prefix / "node"

    @property
    def proxy(self) -> Path:
        return self.node / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def etc(self) -> Path:
        return self.prefix / "etc"

    @property
    def config(self) -> Path:
        return self.etc / "jupyterhub_config.py"

    @property
    def jupyter_config(self) -> Path:
        """Jupyter config every learner's server reads (``JUPYTER_CONFIG_PATH``): nbgrader's."""
        return self.etc / "jupyter"

    @property
    def settings(self) -> Path:
        return self.etc / "hub.json"

    @property
    def state(self) -> Path:
        """The hub's database, cookie secret, API token and pid: root only."""
        return self.prefix / "state"

    @property
    def api_token(self) -> Path:
        return self.state / "api-token"

    @property
    def pid_file(self) -> Path:
        return self.state / "jupyterhub.pid"

    @property
    def exchange(self) -> Path:
        """nbgrader's exchange: learners submit into it, the instructor collects."""
        return self.prefix / "exchange"

    @property
    def vm_slots(self) -> Path:
        """One file per lab VM the machine may run at once (see ``machine/slots.py``)."""
        return self.prefix / "vm-slots"

    @property
    def unit(self) -> Path:
        return self.prefix / UNIT_NAME

    def foreground_command(self) -> str:
        """The one line that runs this hub in the foreground."""
        return f"cd {self.state} && {self.bin('jupyterhub')} -f {self.config}"
