# SPDX-License-Identifier: MIT
"""Decoding ``function+offset`` in a real ``.ko`` to its C lines (kbuild, no VM).

The offsets come from the module's own disassembly, as the kernel would report them:
the faulting store inside an inlined helper, and a call's return address.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import UsageError
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.decode import decode_address, parse_location
from kernelmagic.kbuild.elf import read_elf

pytestmark = pytest.mark.integration

SOURCE = """\
#include <linux/module.h>
MODULE_LICENSE("GPL");

static int *target;

static inline void poke(int value)
{
	*target = value;
}

static noinline void store(void)
{
	poke(42);
}

static int __init deep_init(void)
{
	store();
	return 0;
}

static void __exit deep_exit(void)
{
}
module_init(deep_init);
module_exit(deep_exit);
"""


@pytest.fixture(scope="module")
def ko(bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("builds")
    return build_module("deep", {"deep.c": SOURCE}, kbuild_dir=bundle.kbuild_dir,
                        builds_root=root).ko_path  # fmt: skip


def _disassembly(ko: Path, section: str) -> str:
    return subprocess.run(["objdump", "-d", "-j", section, str(ko)], capture_output=True,
                          text=True, timeout=30, check=True).stdout  # fmt: skip


def test_symbols_know_their_sections(ko: Path) -> None:
    functions = read_elf(ko).functions
    assert functions["deep_init"].section == ".init.text"
    assert functions["deep_exit"].section == ".exit.text"
    assert functions["store"].section.startswith(".text")
    assert b"license=GPL" in read_elf(ko).section(".modinfo")


def test_store_in_inlined_helper_names_both_lines(ko: Path) -> None:
    section = read_elf(ko).functions["store"].section
    # The store of 42 ("movl $0x2a,...") is the instruction that would fault.
    match = re.search(r"^\s*([0-9a-f]+):.*\$0x2a,", _disassembly(ko, section), re.M)
    assert match, "no store of 42 in store()"
    offset = int(match[1], 16) - read_elf(ko).functions["store"].value
    places = decode_address(ko, "store", offset)
    assert [(p.function, Path(p.file).name, p.line, p.inlined) for p in places] == [
        ("poke", "deep.c", 8, True),
        ("store", "deep.c", 13, False),
    ]


def test_return_address_names_the_calling_line(ko: Path) -> None:
    # In deep_init the call to store() is followed by the return: the return address is
    # the instruction after the call, which may belong to the next line.
    lines = _disassembly(ko, ".init.text").splitlines()
    calls = [i for i, line in enumerate(lines) if re.search(r"\scall\s", line)]
    after_last_call = lines[calls[-1] + 1]
    offset = int(after_last_call.split(":")[0], 16)
    places = decode_address(ko, "deep_init", offset, return_address=True)
    assert [(p.function, p.line) for p in places] == [("deep_init", 18)]


def test_unknown_function_or_file(ko: Path, tmp_path: Path) -> None:
    assert decode_address(ko, "no_such_function", 4) == []
    text = tmp_path / "not.ko"
    text.write_text("hello")
    with pytest.raises(UsageError, match="not a little-endian ELF64"):
        read_elf(text)
    # While a crash is shown, a .ko that is not one (or is gone) only loses the decode.
    assert decode_address(text, "f", 0) == []
    assert decode_address(tmp_path / "gone.ko", "f", 0) == []


def test_parse_location() -> None:
    assert parse_location("RIP: 0010:crash_init+0x13/0x1000 [crash]") == ("crash_init", 0x13)
    assert parse_location("no frame here") is None
