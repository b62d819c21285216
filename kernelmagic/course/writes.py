# SPDX-License-Identifier: MIT
"""What a ``write()`` to a learner's device or sysfs file returns, seen by a real program.

A shell's ``echo`` only says "write error" or nothing, and hangs when ``write()`` keeps
returning 0 (a sysfs ``store()`` that returns 0 does that: the writer retries forever).
The checks use a small C program instead, built on the host like the lessons' user
programs: it writes as careful programs do (after a short write, the rest again, in the
same ``open()``), prints what each ``write()`` returned, with the errno's name, and
gives up after a run of zero returns. It can also write from an address no program
owns, which a correct driver answers with ``EFAULT``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.course._guest import lab_vm, short
from kernelmagic.course.lesson import user_program
from kernelmagic.course.results import CheckFailed, CheckResult, HintText
from kernelmagic.guest.protocol import Guest

__all__ = ["WRITER_SOURCE", "Write", "write_returns", "writes_of"]

#: After this many write() calls in a row that return 0, a writer would spin forever
#: (the same number is in kmwrite.c).
ZERO_TRIES = 50

#: The writer's C, shipped beside this module (``kmwrite.c``).
WRITER_SOURCE = (Path(__file__).with_name("kmwrite.c")).read_text()


@dataclass(frozen=True)
class Write:
    """One ``write()`` call: how many bytes were asked, what it returned, the errno's name."""

    asked: int
    returned: int
    errno: str = ""

    def __str__(self) -> str:
        return self.errno if self.returned < 0 else str(self.returned)


_LINE = re.compile(r"^write (\d+) (-1 (\w+)|\d+)$")


def writes_of(output: str) -> tuple[list[Write], bool]:
    """The writes the program reported, and whether it gave up on zero returns."""
    writes = []
    for line in output.splitlines():
        m = _LINE.match(line.strip())
        if m:
            returned = -1 if m[3] else int(m[2])
            writes.append(Write(int(m[1]), returned, m[3] or ""))
    return writes, any(line.startswith("zeros ") for line in output.splitlines())


def write_returns(
    path: str,
    data: str | bytes | Sequence[str | bytes] = (),
    expect: Sequence[int | str] = (),
    *,
    fault: int = 0,
    hint: HintText = "",
    vm: Guest | None = None,
) -> CheckResult:
    """Writing ``data`` to ``path`` makes the ``write()`` calls return ``expect``.

    ``data`` is one message or several (written through the same ``open()``, one after
    the other); ``expect`` lists what each ``write()`` returns in turn: a byte count, or
    an errno's name (``"EINVAL"``). With ``fault=N`` one write of N bytes comes from an
    address no program owns.
    """
    vm = lab_vm(vm)
    parts = [data] if isinstance(data, str | bytes) else list(data)
    blobs = [p.encode() if isinstance(p, str) else bytes(p) for p in parts]
    args = ["--fault", str(fault)] if fault else [b.hex() for b in blobs]
    program = user_program("kmwrite", WRITER_SOURCE, vm=vm)
    result = vm.exec([program, path, *args], timeout=30)
    what = _what(blobs, fault, path)
    if result.exit_code >= 128:
        raise CheckFailed(
            f"{what}: the writer was killed (exit status {result.exit_code}): did the kernel "
            "oops in the write handler?",
            ("a write handler gets a user-space pointer: never read it directly; "
             "copy_from_user() copies from it safely",),
        )  # fmt: skip
    if result.stdout.startswith("open -1"):
        raise CheckFailed(f"{what}: open() failed with {result.stdout.split()[-1]}",
                          "is the module loaded, and is the file writable?")  # fmt: skip
    writes, gave_up = writes_of(result.stdout)
    seen = ", then ".join(str(w) for w in writes) or short(result.stdout + result.stderr)
    want = ", then ".join(str(e) for e in expect)
    if gave_up:
        raise CheckFailed(
            f"{what}: write() returned 0 again and again ({ZERO_TRIES} times, then we "
            "stopped): a writer such as echo would retry forever",
            hint
            or "returning 0 from write() (or from a sysfs store()) means 'nothing "
            "taken, try again': return the number of bytes you took, or an error",
        )
    if [str(w) for w in writes] != [str(e) for e in expect]:
        raise CheckFailed(f"{what}: write() returned {seen}; expected {want}", hint)
    return CheckResult(f"{what}: write() returned {want}")


def _what(blobs: list[bytes], fault: int, path: str) -> str:
    if fault:
        return f"writing {fault} bytes to {path} from a bad address"
    texts = [repr(b.decode(errors="replace")) if len(b) <= 20 else f"{len(b)} bytes"
             for b in blobs]  # fmt: skip
    return f"writing {' then '.join(texts)} to {path}"
