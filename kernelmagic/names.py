# SPDX-License-Identifier: MIT
"""What counts as a module or program name: one rule, used by building and loading.

The kernel stores a module's name with underscores (``snd-pcm`` is loaded as
``snd_pcm``); the modules learners write are C identifiers, because kbuild makes
``<name>.mod.c`` and the name appears in generated C.
"""

from __future__ import annotations

import re

from kernelmagic.errors import UsageError

__all__ = [
    "MAX_MODULE_NAME",
    "check_identifier",
    "is_identifier",
    "kernel_module_name",
]

MAX_MODULE_NAME = 55  # MODULE_NAME_LEN (64) minus the room the kernel keeps
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KERNEL_MODULE = re.compile(r"[A-Za-z0-9_\-]+")


def is_identifier(name: object) -> bool:
    """A C identifier: what a module the learner builds, or a user program, may be called."""
    return isinstance(name, str) and _IDENTIFIER.fullmatch(name) is not None


def check_identifier(name: object, what: str = "module name") -> str:
    """``name`` if it is a C identifier that fits the kernel's limit, else ``UsageError``."""
    if not is_identifier(name):
        raise UsageError(
            f"{name!r} is not a valid {what}: use letters, digits and underscores, "
            "not starting with a digit (for example hello_world)."
        )
    assert isinstance(name, str)
    if len(name) > MAX_MODULE_NAME:
        raise UsageError(
            f"{what} {name!r} is {len(name)} characters long; "
            f"the kernel allows at most {MAX_MODULE_NAME}."
        )
    return name


def kernel_module_name(name: str) -> str:
    """Any module the kernel may know (``snd-pcm`` too), in its underscore form."""
    if not isinstance(name, str) or not _KERNEL_MODULE.fullmatch(name):
        raise UsageError(f"{name!r} is not a module name")
    return name.replace("-", "_")
