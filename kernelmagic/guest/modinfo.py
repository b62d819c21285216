# SPDX-License-Identifier: MIT
"""Reading a module's metadata (``MODULE_*``, parameters) straight from its ``.ko``.

The ``.modinfo`` ELF section holds ``key=value`` strings separated by NUL bytes; reading
it on the host lets a module card show licence, author and parameters right after the
build, before any VM is running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.kbuild.elf import read_elf

__all__ = [
    "ModuleInfo",
    "ParamInfo",
    "modinfo_strings",
    "parse_modinfo_output",
    "parse_strings",
    "read_modinfo",
]


@dataclass(frozen=True)
class ParamInfo:
    """One module parameter: its name, its type (``charp``, ``int``...) and description."""

    name: str
    type: str = ""
    description: str = ""


@dataclass(frozen=True)
class ModuleInfo:
    """What ``modinfo`` would print, as fields."""

    name: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    params: list[ParamInfo] = field(default_factory=list)

    def first(self, key: str) -> str:
        values = self.fields.get(key)
        return values[0] if values else ""

    @property
    def license(self) -> str:
        return self.first("license")

    @property
    def description(self) -> str:
        return self.first("description")

    @property
    def author(self) -> str:
        return ", ".join(self.fields.get("author", []))

    @property
    def version(self) -> str:
        return self.first("version")

    @property
    def vermagic(self) -> str:
        return self.first("vermagic")

    @property
    def depends(self) -> list[str]:
        return [d for d in self.first("depends").split(",") if d]

    def param(self, name: str) -> ParamInfo | None:
        return next((p for p in self.params if p.name == name), None)


def modinfo_strings(ko: Path) -> list[str]:
    """The raw ``key=value`` strings of the ``.modinfo`` section of an ELF64 ``.ko``.

    Raises ``UsageError`` for a file that is not one: the path is the caller's choice
    (``insmod(vm, path)``), and the message says what is wrong with it.
    """
    raw = read_elf(ko).section(".modinfo")
    return [s.decode(errors="replace") for s in raw.split(b"\0") if s]


def parse_strings(strings: list[str], fallback_name: str = "") -> ModuleInfo:
    """``key=value`` strings as fields, with ``parm``/``parmtype`` pairs joined per parameter."""
    fields: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    types: dict[str, str] = {}
    order: list[str] = []
    for item in strings:
        key, _, value = item.partition("=")
        if key == "parm":
            pname, _, desc = value.partition(":")
            descriptions[pname] = desc
            order.append(pname)
        elif key == "parmtype":
            pname, _, ptype = value.partition(":")
            types[pname] = ptype
            order.append(pname)
        else:
            fields.setdefault(key, []).append(value)
    seen: list[str] = []
    for pname in order:
        if pname not in seen:
            seen.append(pname)
    params = [ParamInfo(p, types.get(p, ""), descriptions.get(p, "")) for p in seen]
    name = (fields.get("name") or [fallback_name])[0]
    return ModuleInfo(name, fields, params)


def read_modinfo(ko: Path) -> ModuleInfo:
    """Metadata of a ``.ko`` file on the host."""
    return parse_strings(modinfo_strings(ko), fallback_name=ko.name.split(".")[0])


def parse_modinfo_output(text: str, fallback_name: str = "") -> ModuleInfo:
    """Parse ``modinfo -0``-less text output (``key:   value`` lines) from the guest."""
    strings: list[str] = []
    for line in text.splitlines():
        if line[:1].isspace() and strings:
            # kmod wraps a long signature onto lines indented by tabs
            strings[-1] += line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if key == "parm":
            # "name:description (type)" as kmod prints it
            pname, _, rest = value.partition(":")
            ptype = ""
            if rest.endswith(")") and "(" in rest:
                rest, _, ptype = rest[:-1].rpartition("(")
                rest = rest.strip()
            strings.append(f"parm={pname}:{rest}")
            if ptype:
                strings.append(f"parmtype={pname}:{ptype}")
        else:
            strings.append(f"{key.strip()}={value}")
    return parse_strings(strings, fallback_name)
