# SPDX-License-Identifier: MIT
"""A fake make and a fake kbuild tree, so the builder's tests run in milliseconds anywhere.

``FakeMake`` stands in for ``subprocess.Popen`` of make: it records the argv and the
keyword arguments (environment, process group), and "builds" by writing the ``.ko``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["COMPILER", "HELLO", "OK_LOG", "RELEASE", "SYNTAX_LOG", "FakeMake", "fake_tree"]

RELEASE = "6.1.0-56-amd64"
COMPILER = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
# Not the course's hello: the fake make never compiles it, only its bytes matter.
HELLO = {"hello.c": '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n'}

SYNTAX_LOG = """\
make: Entering directory '/kbuild'
  CC [M]  {d}/hello.o
{d}/hello.c: In function 'hello_init':
{d}/hello.c:7:9: error: expected ';' before 'return'
    7 |         return 0;
      |         ^~~~~~
make[1]: *** [/common/scripts/Makefile.build:255: {d}/hello.o] Error 1
make: *** [/common/Makefile:2065: {d}] Error 2
make: Leaving directory '/kbuild'
"""

OK_LOG = """\
make: Entering directory '/kbuild'
  CC [M]  {d}/hello.o
{d}/hello.c:6:13: warning: unused variable 'x' [-Wunused-variable]
  LD [M]  {d}/hello.ko
Skipping BTF generation for {d}/hello.ko due to unavailability of vmlinux
make: Leaving directory '/kbuild'
"""


def fake_tree(root: Path) -> Path:
    """The few files of a Debian kbuild tree that the builder reads itself."""
    tree = root / "linux-headers"
    (tree / "include" / "generated").mkdir(parents=True)
    (tree / "include" / "config").mkdir(parents=True)
    (tree / "Makefile").write_text("include ../common/Makefile\n")
    (tree / "include" / "generated" / "utsrelease.h").write_text(
        f'#define UTS_RELEASE "{RELEASE}"\n'
    )
    (tree / "include" / "config" / "kernel.release").write_text("6.1.192\n")
    (tree / ".kernelvariables").write_text(
        "override ARCH = x86\n"
        f"override KERNELRELEASE = {RELEASE}\n"
        "CCACHE = ccache\n"
        "CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12\n"
    )
    return tree


class FakeMake:
    """Stands in for ``subprocess.Popen`` of make: records calls, writes the .ko, or fails."""

    def __init__(self, log: str = OK_LOG, status: int = 0, make_ko: bool = True) -> None:
        self.log, self.status, self.make_ko = log, status, make_ko
        self.calls: list[dict[str, Any]] = []
        self.delay = 0.0
        self.pid = 0
        self.returncode: int | None = None

    def __call__(self, argv: list[str], **kwargs: Any) -> FakeMake:
        self.calls.append({"argv": argv, **kwargs})
        self._build_dir = Path(next(a for a in argv if a.startswith("M="))[2:])
        return self

    def __enter__(self) -> FakeMake:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def communicate(self, timeout: float | None = None) -> tuple[str, None]:
        time.sleep(self.delay)
        name = self._build_dir.name.rsplit("-", 1)[0]
        if self.status == 0 and self.make_ko:
            (self._build_dir / f"{name}.ko").write_bytes(b"\x7fELF fake")
        self.returncode = self.status
        return self.log.format(d=self._build_dir), None
