# SPDX-License-Identifier: MIT
"""From ``crash_init+0x13`` in a kernel report to the file and line of the module's C.

The ``.ko`` that kbuild built keeps its DWARF on the host. A report names a module's
code as ``function+offset``; the function's section and value come from the symbol
table, and binutils' ``addr2line`` (``-j SECTION``, as a ``.ko`` is relocatable) turns
the address into places, innermost first, with the functions the compiler inlined.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.errors import UsageError
from kernelmagic.kbuild.elf import read_elf
from kernelmagic.kbuild.sources import SourceLine

__all__ = ["SourcePlace", "decode_address", "parse_location"]

log = logging.getLogger(__name__)

_LOCATION = re.compile(r"(?P<function>[A-Za-z_][\w.]*)\+0x(?P<offset>[0-9a-f]+)(?:/0x[0-9a-f]+)?")
_PLACE = re.compile(r"^(?P<file>.+?):(?P<line>\d+)(?: \(discriminator \d+\))?$")


@dataclass(frozen=True)
class SourcePlace:
    """One source line; ``inlined`` when the compiler inlined ``function`` here.

    ``source`` is that line in the learner's own cell or file, once the caller has
    mapped it (:func:`kernelmagic.kbuild.sources.source_line`); None for a kernel header.
    """

    function: str
    file: str
    line: int
    inlined: bool = False
    source: SourceLine | None = None

    def __str__(self) -> str:
        return f"{self.function} at {Path(self.file).name}:{self.line}"


def parse_location(text: str) -> tuple[str, int] | None:
    """``("crash_init", 0x13)`` from ``crash_init+0x13/0x1000``, or None."""
    match = _LOCATION.search(text)
    if match is None:
        return None
    return match["function"], int(match["offset"], 16)


def decode_address(
    ko: Path, function: str, offset: int, *, return_address: bool = False
) -> list[SourcePlace]:
    """Where ``function+offset`` is in the module's sources, innermost place first.

    A call trace's frames are return addresses, which point just past the call and may
    belong to the next line: ``return_address`` looks one byte back, at the call.

    Empty when the function is not in the module, the ``.ko`` is gone or unreadable
    (a cleaned cache), has no line table, or binutils is missing: decoding runs while a
    crash is being shown, and a report without a decoded line is still a report.
    """
    try:
        symbol = read_elf(ko).functions.get(function)
    except (OSError, UsageError) as exc:
        log.warning("cannot decode %s+%#x: %s", function, offset, exc)
        return []
    addr2line = shutil.which("addr2line")
    if symbol is None or addr2line is None:
        return []
    argv = [addr2line, "-e", str(ko), "-j", symbol.section, "-i", "-f",
            hex(symbol.value + offset - (1 if return_address and offset else 0))]  # fmt: skip
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("addr2line could not decode %s+%#x in %s: %s", function, offset, ko, exc)
        return []
    lines = out.splitlines()
    places: list[SourcePlace] = []
    for name, where in zip(lines[0::2], lines[1::2], strict=False):
        match = _PLACE.match(where.strip())
        if match is None or match["line"] == "0":
            continue
        places.append(SourcePlace(name.strip(), match["file"], int(match["line"])))
    # addr2line -i lists the innermost first; every place but the last is inlined.
    return [
        SourcePlace(p.function, p.file, p.line, inlined=i < len(places) - 1)
        for i, p in enumerate(places)
    ]
