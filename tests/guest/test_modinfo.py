# SPDX-License-Identifier: MIT
"""modinfo.py: the ``.modinfo`` section of a synthetic ELF64 object, and kmod's text."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kernelmagic.errors import UsageError
from kernelmagic.guest.modinfo import (
    ParamInfo,
    modinfo_strings,
    parse_modinfo_output,
    read_modinfo,
)

MODINFO = [
    "version=1.2",
    "description=Says hello to whom you name",
    "author=Ada Lovelace <ada@example.org>",
    "author=Alan Turing",
    "license=GPL",
    "parmtype=count:int",
    "parm=count:How many greetings",
    "parmtype=name:charp",
    "parm=name:Whom to greet",
    "parm=quiet:Say nothing",  # a description without a type
    "srcversion=0123456789ABCDEF0123456",
    "depends=",
    "retpoline=Y",
    "name=hello",
    "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
]


def make_elf(sections: dict[str, bytes], *, elf_class: int = 2) -> bytes:
    """A relocatable ELF64 with the given sections, section headers at the end."""
    names = [".shstrtab", *sections]
    shstrtab = b"\0"
    name_offsets = {}
    for name in names:
        name_offsets[name] = len(shstrtab)
        shstrtab += name.encode() + b"\0"
    bodies = {".shstrtab": shstrtab, **sections}
    body = b""
    offsets = {}
    for name in names:
        offsets[name] = 64 + len(body)
        body += bodies[name] + b"\0" * (-len(bodies[name]) % 8)
    shoff = 64 + len(body)
    headers = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)  # SHN_UNDEF
    for name in names:
        sh_type = 3 if name == ".shstrtab" else 1  # SHT_STRTAB, SHT_PROGBITS
        headers += struct.pack(
            "<IIQQQQIIQQ", name_offsets[name], sh_type, 0, 0,
            offsets[name], len(bodies[name]), 0, 0, 1, 0,
        )  # fmt: skip
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    header = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
        len(names) + 1, 1,
    )  # fmt: skip
    assert len(header) == 64
    return header + body + headers


def write_ko(path: Path, strings: list[str], extra: dict[str, bytes] | None = None) -> Path:
    sections = {".text": b"\x90" * 13, **(extra or {})}
    sections[".modinfo"] = b"".join(s.encode() + b"\0" for s in strings)
    sections[".data"] = b"data"
    path.write_bytes(make_elf(sections))
    return path


def test_read_modinfo(tmp_path: Path) -> None:
    info = read_modinfo(write_ko(tmp_path / "hello.ko", MODINFO))
    assert info.name == "hello"
    assert info.license == "GPL"
    assert info.description == "Says hello to whom you name"
    assert info.author == "Ada Lovelace <ada@example.org>, Alan Turing"
    assert info.version == "1.2"
    assert info.vermagic == "6.1.0-56-amd64 SMP preempt mod_unload modversions "
    assert info.depends == []
    assert info.params == [
        ParamInfo("count", "int", "How many greetings"),
        ParamInfo("name", "charp", "Whom to greet"),
        ParamInfo("quiet", "", "Say nothing"),
    ]
    assert info.param("name") == ParamInfo("name", "charp", "Whom to greet")
    assert info.param("missing") is None
    assert info.first("retpoline") == "Y"
    assert "parm" not in info.fields and "parmtype" not in info.fields


def test_modinfo_strings_exact(tmp_path: Path) -> None:
    ko = write_ko(tmp_path / "hello.ko", ["license=GPL", "name=hello"])
    assert modinfo_strings(ko) == ["license=GPL", "name=hello"]


def test_depends_and_fallback_name(tmp_path: Path) -> None:
    ko = write_ko(tmp_path / "consumer.ko", ["depends=provider,other", "license=GPL"])
    info = read_modinfo(ko)
    assert info.name == "consumer"
    assert info.depends == ["provider", "other"]


def test_no_modinfo_section(tmp_path: Path) -> None:
    ko = tmp_path / "bare.ko"
    ko.write_bytes(make_elf({".text": b"\xc3"}))
    assert modinfo_strings(ko) == []
    assert read_modinfo(ko).name == "bare"


def test_section_name_is_matched_exactly(tmp_path: Path) -> None:
    """``.modinfo.extra`` or ``.rela.modinfo`` are not the section we want."""
    ko = tmp_path / "x.ko"
    ko.write_bytes(make_elf({".modinfo.extra": b"license=BSD\0", ".modinfo": b"license=GPL\0"}))
    assert modinfo_strings(ko) == ["license=GPL"]


def test_not_elf64_is_a_usage_error(tmp_path: Path) -> None:
    """The path is the caller's: a wrong file is their mistake, told in one line."""
    text = tmp_path / "hello.c"
    text.write_text("int x;\n")
    with pytest.raises(UsageError, match="not a little-endian ELF64"):
        read_modinfo(text)
    elf32 = tmp_path / "old.ko"
    elf32.write_bytes(make_elf({".modinfo": b"license=GPL\0"}, elf_class=1))
    with pytest.raises(UsageError, match="ELF64"):
        read_modinfo(elf32)
    magic_only = tmp_path / "magic.ko"
    magic_only.write_bytes(b"\x7fELF")
    with pytest.raises(UsageError, match="not a little-endian ELF64"):
        read_modinfo(magic_only)


def test_truncated_elf64_is_a_usage_error(tmp_path: Path) -> None:
    ko = tmp_path / "cut.ko"
    ko.write_bytes(write_ko(tmp_path / "whole.ko", ["license=GPL"]).read_bytes()[:200])
    with pytest.raises(UsageError, match="not a well-formed ELF64 file"):
        read_modinfo(ko)


# kmod's text for a signed module, with the signature wrapped onto a tab-indented line.
KMOD_TEXT = (
    Path(__file__).resolve().parents[1] / "data" / "guest" / "modinfo_signed.txt"
).read_text()


def test_parse_modinfo_output() -> None:
    info = parse_modinfo_output(KMOD_TEXT, "fallback")
    assert info.name == "hello"
    assert info.license == "GPL"
    assert info.description == "Says hello"
    assert info.author == "Ada Lovelace"
    assert info.depends == []
    assert info.first("filename") == "/lib/modules/6.1.0-56-amd64/extra/hello.ko"
    assert info.first("sig_key") == "32:A0:28:7F:84:1A:03:6F:A3:93:C1:E0:65:C4:3A:E6:B2:42:26:43"
    assert info.params == [
        ParamInfo("name", "charp", "Whom to greet"),
        ParamInfo("count", "int", "How many times (default 1)"),
        ParamInfo("verbose", "", "Talk a lot"),
    ]


def test_parse_modinfo_output_signature_continuation() -> None:
    """The signature's continuation lines are part of it, not fields of their own."""
    info = parse_modinfo_output(KMOD_TEXT)
    assert set(info.fields) == {
        "filename", "description", "author", "license", "depends", "retpoline", "name",
        "vermagic", "sig_id", "signer", "sig_key", "sig_hashalgo", "signature",
    }  # fmt: skip
    signature = info.first("signature")
    assert signature.startswith("8A:A7:F5:")
    assert signature.endswith(":B8:7C:7E:28:5A:90:F8:1F:08:A5:4D:2C:C6:17:D3:86:CF:41:1F:91:38:24")


def test_parse_modinfo_output_fallback_name() -> None:
    assert parse_modinfo_output("license:        GPL\n", "dummy").name == "dummy"
