# SPDX-License-Identifier: MIT
"""Plain-words hints for the build messages learners meet first.

gcc and modpost speak to kernel developers. For the few messages every beginner meets
(a GPL-only symbol, a symbol nobody exports, a missing licence, a file mode that is not
octal or lets everyone write, a ``copy_from_user()`` result compared with ``< 0``),
:func:`hint` adds one sentence that says what to change and where.

Two of them need the learner's source as well as the message: the kernel checks a
sysfs file's mode at compile time with ``BUILD_BUG_ON_ZERO``, whose error ("negative
width in bit-field") points into a kernel header and never says "mode"; and
``copy_from_user(...) < 0`` is never true, so gcc only warns that the result is unused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.sources import CellSource, licence_location, locate

__all__ = ["hint", "mode_mistakes"]

# module_param(name, type, MODE), module_param_array(name, type, nump, MODE), ...: the
# mode is the last argument. __ATTR(name, MODE, show, store), DEVICE_ATTR(...): the second.
_PARAM_CALL = re.compile(r"\b(module_param(?:_named|_array|_string|_cb|_unsafe)?)\s*\((.*)\)")
_ATTR_CALL = re.compile(r"\b(__ATTR|[A-Z]+_ATTR)\s*\((.*)\)")
_USER_COPY = re.compile(r"'((?:copy|clear)_(?:from|to)_user|copy_in_user)'")


def hint(diagnostic: Diagnostic, files: Mapping[str, CellSource]) -> str:
    """A hint for ``diagnostic`` when we have one, else ""."""
    msg = diagnostic.message
    if "GPL-only symbol" in msg or "GPL-incompatible" in msg:
        where = licence_location(files)
        return (
            "symbols exported with EXPORT_SYMBOL_GPL are only for modules whose "
            'MODULE_LICENSE is GPL-compatible ("GPL", "Dual MIT/GPL", ...); '
            + (f"this module's is on {where}" if where else "this module declares none")
        )
    if diagnostic.origin == "modpost" and "undefined!" in msg:
        return (
            "neither the kernel nor a module built in this notebook exports that symbol: "
            "check the spelling, or run the %%kmodule cell of the module that exports it first"
        )
    if "missing MODULE_LICENSE" in msg:
        return 'add MODULE_LICENSE("GPL"); every module must declare its licence'
    if "negative width in bit-field" in msg:
        return _build_bug_hint(files)
    copy = _USER_COPY.search(msg)
    if copy and "ignoring return value" in msg:
        return _user_copy_hint(copy[1], diagnostic, files)
    return ""


def _build_bug_hint(files: Mapping[str, CellSource]) -> str:
    mistakes = list(mode_mistakes(files))
    if mistakes:
        return "; ".join(f"{where}: {why}" for where, why in mistakes)
    return (
        "a compile-time check of a kernel macro (BUILD_BUG_ON) failed; the note with your "
        "cell line names the macro. For module_param() and sysfs attributes it checks the "
        "mode: octal with a leading 0 (0644, not 644), and never writable by others"
    )


def mode_mistakes(files: Mapping[str, CellSource]) -> Iterator[tuple[str, str]]:
    """``(where, why)`` for each file mode in a module_param/ATTR call the kernel refuses."""
    for filename, source in files.items():
        for number, line in enumerate(source.text.splitlines(), start=1):
            mode = _mode_argument(line)
            why = _mode_problem(mode) if mode is not None else ""
            if why:
                d = Diagnostic(filename, number, None, "error", "", "compiler")
                yield locate(d, files).label, why


def _mode_argument(line: str) -> str | None:
    code = line.split("//", 1)[0]
    m = _PARAM_CALL.search(code)
    if m:
        args = _arguments(m[2])
        return args[-1] if args else None
    m = _ATTR_CALL.search(code)
    if m:
        args = _arguments(m[2])
        return args[1] if len(args) > 1 else None
    return None


def _arguments(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call's text (up to its closing paren)."""
    args, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += ch
    args.append(current.strip())
    return args


def _mode_problem(mode: str) -> str:
    if re.fullmatch(r"[1-9]\d*", mode):
        return (
            f"the mode {mode} is a decimal number (octal {int(mode):o}), not the permission "
            f"bits you meant: modes are written in octal, with a leading 0 (0{mode})"
        )
    if re.fullmatch(r"0[0-7]*", mode) and int(mode, 8) & 0o002:
        safe = int(mode, 8) & ~0o002
        return (
            f"{mode} lets every user write the file, and the kernel refuses world-writable "
            f"sysfs files at build time: use 0{safe:o} (or 0644, writable by root)"
        )
    return ""


def _user_copy_hint(
    function: str, diagnostic: Diagnostic, files: Mapping[str, CellSource]
) -> str:  # fmt: skip
    convention = (
        f"{function}() returns the number of bytes it could NOT copy: 0 when all went "
        "well, a positive count otherwise, never a negative number"
    )
    source = files.get(diagnostic.file)
    lines = source.text.splitlines() if source is not None else []
    line = lines[diagnostic.line - 1] if diagnostic.line and diagnostic.line <= len(lines) else ""
    if re.search(r"<\s*0", line):
        return (
            f"{convention}, so '< 0' is never true (gcc sees the result thrown away); "
            f"write if ({function}(...)) return -EFAULT;"
        )
    return f"{convention}; test it and return -EFAULT when it is not 0"
