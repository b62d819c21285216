# SPDX-License-Identifier: MIT
"""What lesson cells call besides the checks: parameter checks, guest writes, user programs.

Lessons use them as ``from kernelmagic import course`` then ``course.require_parameter``,
``course.guest_write`` and ``course.user_program``; course tooling finds a lesson's
modules with :func:`kmodule_cells`. Without ``vm=``, the guest helpers use the same VM
as the checks (:func:`kernelmagic.course.check.lab_vm`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelmagic.course._guest import lab_vm
from kernelmagic.errors import UsageError
from kernelmagic.guest.protocol import Guest
from kernelmagic.kbuild import userprog

__all__ = [
    "build_user_program",
    "guest_write",
    "kmodule_cells",
    "require_parameter",
    "user_program",
    "userprog_cells",
]

#: The most ``guest_write`` sends: a pipe's atomic size, so ``dd`` writes it in one piece.
MAX_GUEST_WRITE = 4096


def require_parameter(name: str, value: object, ok: bool, expected: str) -> None:
    """Refuse a lesson parameter that makes no sense, in one clear line.

    Lessons call this right after their ``parameters`` cell, so a papermill run with a
    bad value stops there, saying which parameter and what it should be, instead of
    failing somewhere later for a reason that is hard to trace back::

        course.require_parameter("count", count, isinstance(count, int) and count >= 0,
                                 "a whole number, 0 or more")
    """
    if not ok:
        raise UsageError(f"parameter {name} = {value!r} is not valid: it must be {expected}")


def guest_write(path: str, data: str | bytes, *, vm: Guest | None = None) -> None:
    """Write ``data`` to the guest file ``path`` (a device, a sysfs attribute), no shell.

    Text from a lesson's parameters can hold quotes, ``$`` or backquotes, which a shell
    command line would interpret; here the bytes go to ``dd``'s standard input through
    the guest agent, and ``dd`` hands them to the file in one ``write()`` (data up to
    4 KiB, a pipe's atomic size, arrives in one piece). A refused write (``store()``
    returned an error) raises ``GuestCommandError`` with dd's message.
    """
    payload = data.encode() if isinstance(data, str) else bytes(data)
    if len(payload) > MAX_GUEST_WRITE:
        raise UsageError(
            f"guest_write: {len(payload)} bytes is more than the {MAX_GUEST_WRITE} it handles"
        )
    lab_vm(vm).exec(["dd", f"of={path}", "bs=4096"], input=payload, timeout=30, check=True)


def build_user_program(name: str, source: str, *, builds_root: Path | None = None) -> Path:
    """Compile a small C program for the lab VM's user space; returns the host path.

    The same build as a ``%%userprog NAME`` cell (:mod:`kernelmagic.kbuild.userprog`):
    static, cached, and runnable in the guest as plain ``NAME`` afterwards.
    """
    return userprog.build_user_program(name, source, builds_root=builds_root).path


def user_program(name: str, source: str, *, vm: Guest | None = None) -> str:
    """Build a user-space program (see build_user_program); returns its path in the guest."""
    return lab_vm(vm).guest_path(build_user_program(name, source))


def kmodule_cells(notebook: Path | str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(module name, C source, cell)`` for each ``%%kmodule`` cell of a notebook."""
    return _named_cells(notebook, "%%kmodule")


def userprog_cells(notebook: Path | str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(program name, C source, cell)`` for each ``%%userprog`` cell of a notebook."""
    return _named_cells(notebook, "%%userprog")


def _named_cells(notebook: Path | str, magic: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    import nbformat  # only course tooling needs it

    nb = nbformat.read(Path(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first, _, body = cell.source.partition("\n")
        parts = first.split()
        if parts and parts[0] == magic and len(parts) > 1:
            name = next((p for p in parts[1:] if not p.startswith("-")), "")
            yield name, body, cell
