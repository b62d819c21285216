# SPDX-License-Identifier: MIT
"""kernelmagic: write a Linux kernel module in a notebook cell, load it into a lab VM.

``%load_ext kernelmagic`` registers the magics (``%%kmodule``, ``%insmod``, ``%dmesg``,
``%vm`` ...). The core works from plain Python, without IPython::

    import kernelmagic as km

    with km.LabVM() as vm:
        built = km.build_module("hello", {"hello.c": open("modules/hello.c").read()})
        print(km.insmod(vm, built.ko_path).log_text)
        print(km.rmmod(vm, "hello").log_text)

A :class:`Workspace` keeps several modules, their builds and loads, as a notebook does.

The layers, each a sub-package, with imports pointing only down: ``machine`` (bundle,
QEMU, agent, console) → ``kbuild`` (building modules) → ``guest`` (module operations,
kernel log) → ``workspace`` (one notebook's or one run's modules) → ``course`` (checks,
student versions) → ``notebook`` (session, views, magics; the only IPython importer) →
``cli``. Public names are imported on first use, so importing the package (as the
Jupyter kernel does at start) costs nothing.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("kernelmagic")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"

_LAZY = {
    "LabVM": "kernelmagic.machine.vm",
    "Bundle": "kernelmagic.machine.bundle",
    "build_module": "kernelmagic.kbuild.builder",
    "BuildResult": "kernelmagic.kbuild.result",
    "insmod": "kernelmagic.guest.kmod",
    "rmmod": "kernelmagic.guest.kmod",
    "modprobe": "kernelmagic.guest.kmod",
    "lsmod": "kernelmagic.guest.kmod",
    "is_loaded": "kernelmagic.guest.kmod",
    "dmesg": "kernelmagic.guest.kernel_log",
    "KernelMagicError": "kernelmagic.errors",
    "BuildError": "kernelmagic.errors",
    "ModuleError": "kernelmagic.errors",
    "KernelCrashed": "kernelmagic.errors",
    "VMError": "kernelmagic.errors",
    "Workspace": "kernelmagic.workspace",
    "get_session": "kernelmagic.notebook.session",
}

__all__ = [*_LAZY, "__version__", "load_ipython_extension", "unload_ipython_extension"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kernelmagic' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """For ``jupyter labextension develop``: the prebuilt C-highlighting extension."""
    return [{"src": "notebook/labextension", "dest": "kernelmagic-highlight"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext kernelmagic``: register the magics (imported only now)."""
    from kernelmagic.notebook.magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext kernelmagic``: remove the magics and stop this kernel's lab VM."""
    from kernelmagic.notebook.magics import unregister
    from kernelmagic.notebook.session import get_session, set_session

    unregister(ipython)
    get_session().shutdown()
    set_session(None)
