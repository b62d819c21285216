# SPDX-License-Identifier: MIT
"""What a build gives back, fresh or from the cache: the ``.ko`` and what the compiler said.

It has its own module because both the builder and the cache make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kernelmagic.kbuild.diagnostics import Diagnostic

__all__ = ["BuildResult"]


@dataclass(repr=False)
class BuildResult:
    """A built module: where its ``.ko`` is, and what the compiler said on the way."""

    name: str
    ko_path: Path
    build_dir: Path
    diagnostics: list[Diagnostic]
    log: str
    duration: float
    cached: bool
    key: str
    kernel_release: str

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def __repr__(self) -> str:
        # Short and free of paths and timings, so nbval/papermill outputs stay comparable.
        how = "cached" if self.cached else "built"
        n = len(self.warnings)
        return (
            f"<BuildResult {self.name}.ko for {self.kernel_release}, {how}, "
            f"{n} warning{'' if n == 1 else 's'}>"
        )
