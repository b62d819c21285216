# SPDX-License-Identifier: MIT
"""Just enough of ELF64 to read a kernel module: its sections and its function symbols.

A ``.ko`` is a relocatable object (``ET_REL``): every section starts at address 0, so a
function is known by its section and its offset there. That is what decoding a crash
address needs, and ``.modinfo`` is what the module card needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.errors import UsageError

__all__ = ["ElfModule", "FunctionSymbol", "read_elf"]

_SHT_SYMTAB = 2
_STT_FUNC = 2


@dataclass(frozen=True)
class FunctionSymbol:
    name: str
    section: str
    value: int
    size: int


@dataclass(frozen=True)
class ElfModule:
    path: Path
    sections: dict[str, bytes]
    functions: dict[str, FunctionSymbol]

    def section(self, name: str) -> bytes:
        return self.sections.get(name, b"")


def read_elf(path: Path) -> ElfModule:
    """Sections (by name) and function symbols of a little-endian ELF64 file."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or len(data) < 0x40 or data[4] != 2 or data[5] != 1:
        raise UsageError(f"{path} is not a little-endian ELF64 kernel module")
    try:
        return _parse(Path(path), data)
    except (struct.error, ValueError, IndexError) as exc:
        raise UsageError(f"{path} is not a well-formed ELF64 file: {exc}") from None


def _parse(path: Path, data: bytes) -> ElfModule:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [
        struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize) for i in range(shnum)
    ]  # name, type, flags, addr, offset, size, link, info

    def cstring(table: bytes, start: int) -> str:
        return table[start : table.index(b"\0", start)].decode(errors="replace")

    names_header = headers[shstrndx]
    names = data[names_header[4] : names_header[4] + names_header[5]]
    section_names = [cstring(names, h[0]) for h in headers]
    sections = {
        name: data[h[4] : h[4] + h[5]]
        for name, h in zip(section_names, headers, strict=True)
        if name and h[1] != 8  # SHT_NOBITS (.bss) has no bytes in the file
    }
    functions: dict[str, FunctionSymbol] = {}
    for h in headers:
        if h[1] != _SHT_SYMTAB:
            continue
        strtab_header = headers[h[6]]
        strtab = data[strtab_header[4] : strtab_header[4] + strtab_header[5]]
        for offset in range(h[4], h[4] + h[5], 24):
            st_name, st_info, _other, st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", data, offset
            )
            if st_info & 0xF != _STT_FUNC or not 0 < st_shndx < len(headers):
                continue
            name = cstring(strtab, st_name)
            functions[name] = FunctionSymbol(name, section_names[st_shndx], st_value, st_size)
    return ElfModule(path, sections, functions)
