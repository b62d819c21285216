# SPDX-License-Identifier: MIT
"""The core state of one notebook, or one command-line run: modules, builds and loads.

A :class:`Workspace` keeps the learner's module sources as the cells gave them
(``%%kfile`` cells, then the ``%%kmodule`` cell, each remembering its cell so that
diagnostics point at cell lines), the last build of each module, and where the kernel
log stood when each module was last loaded (for ``%dmesg --since-load``). It builds,
loads, unloads and modprobes on top of the guest operations, with no IPython: the
notebook session adds the lazy boot, its progress bar and the notices; ``kernelmagic
run`` uses it as it is.

The VM comes from a provider called by each operation that needs one: the session's
boots the VM on first need, the command line's starts it on the first load. The
current workspace (:func:`current`, :func:`set_current`) is how the course's checks
find the notebook's VM without importing the notebook layer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kernelmagic.errors import ModuleError, UsageError
from kernelmagic.guest import kmod
from kernelmagic.guest.kernel_log import LogMark, LogRecord, log_mark
from kernelmagic.guest.kmod import ModuleOperation
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.guest.protocol import Guest
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.machine.accel import AccelChoice
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.vm import VMStatus

__all__ = [
    "Builder",
    "Console",
    "LabMachine",
    "ModuleChange",
    "ModuleSources",
    "Workspace",
    "current",
    "set_current",
]


class Console(Protocol):
    """The serial console's recorder, as the workspace's users read it."""

    def mark(self) -> int: ...

    def text(self) -> str: ...

    def tail(self, n: int) -> list[str]: ...

    @property
    def crashes(self) -> list[CrashReport]: ...

    def crashes_since(self, mark: int) -> list[CrashReport]: ...


class LabMachine(Guest, Protocol):
    """What a workspace and its users need of a lab VM: ``LabVM``, or a test's fake."""

    accel: AccelChoice | None
    boot_seconds: float | None

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...

    def kill(self) -> None: ...

    def is_running(self) -> bool: ...

    def status(self) -> VMStatus: ...

    @property
    def console(self) -> Console: ...

    @property
    def crash(self) -> CrashReport | None: ...


class Builder(Protocol):
    """``build_module``'s signature; tests give a fake kbuild."""

    def __call__(
        self, name: str, sources: dict[str, str], *, cflags: str = ...,
        extra_symbols: Sequence[Path] = ...,
    ) -> BuildResult: ...  # fmt: skip


@dataclass
class ModuleSources:
    """The files of one module, by file name, each remembering its cell."""

    files: dict[str, CellSource] = field(default_factory=dict)
    cflags: str = ""

    def texts(self) -> dict[str, str]:
        return {name: f.text for name, f in self.files.items()}

    @property
    def has_main(self) -> bool:
        """Whether its ``%%kmodule`` cell has run (``%%kfile`` cells alone do not build)."""
        return any(f.main for f in self.files.values())


@dataclass(frozen=True)
class ModuleChange:
    """What a load, an unload or a modprobe did in the guest.

    ``operation`` holds the kernel log records it caused (with ``reloaded``, those of
    unloading the copy that was loaded before, too); ``loaded`` and ``removed`` are the
    modules a modprobe added (in load order) or took away.
    """

    operation: ModuleOperation
    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reloaded: bool = False

    @property
    def log_text(self) -> str:
        """The kernel log messages it caused, one per line."""
        return self.operation.log_text


class Workspace:
    """The modules of one notebook (or run): their sources, builds and load marks."""

    def __init__(self, vm: Callable[[], LabMachine], *, builder: Builder | None = None) -> None:
        self._vm_provider = vm
        self._builder: Builder = builder or build_module
        self.modules: dict[str, ModuleSources] = {}
        self.builds: dict[str, BuildResult] = {}
        #: Where the kernel log stood when each module was last loaded from here.
        self.load_marks: dict[str, LogMark] = {}

    @property
    def vm(self) -> LabMachine:
        """The running lab VM, from the provider (which may boot it)."""
        return self._vm_provider()

    def forget_loads(self) -> None:
        """The guest's kernel is gone (stopped, restarted, crashed): its log marks with it."""
        self.load_marks.clear()

    # -- sources ----------------------------------------------------------------------

    def sources(self, name: str) -> ModuleSources:
        return self.modules.setdefault(name, ModuleSources())

    def add_source(self, name: str, filename: str, source: CellSource) -> None:
        """Add (or replace) one file of module ``name``."""
        self.sources(name).files[filename] = source

    def add_file(self, name: str, filename: str, text: str) -> None:
        """A ``%%kfile NAME/FILE`` cell."""
        self.add_source(name, filename, CellSource(text, f"%%kfile {name}/{filename}"))

    def remove_file(self, name: str, filename: str) -> bool:
        return self.sources(name).files.pop(filename, None) is not None

    def set_main(self, name: str, text: str) -> str:
        """Record the ``%%kmodule`` cell; returns the file name it is built as.

        kbuild links several .c files into NAME.o, so with ``%%kfile`` .c files beside
        it the cell cannot be NAME.c; it becomes NAME_main.c.
        """
        files = self.sources(name).files
        for filename in [f for f, src in files.items() if src.main]:
            del files[filename]
        others = [f for f in files if f.endswith(".c")]
        filename = f"{name}_main.c" if others else f"{name}.c"
        if filename in files:
            raise UsageError(
                f"%%kfile {name}/{filename} clashes with the %%kmodule cell, which is built "
                f"as {filename}; rename that file"
            )
        files[filename] = CellSource(text, f"%%kmodule {name}", main=True)
        return filename

    # -- builds -----------------------------------------------------------------------

    def build(self, name: str, *, cflags: str = "") -> BuildResult:
        """Build NAME from its sources, with the symbols of the other modules built here."""
        extra = [
            b.build_dir for other, b in sorted(self.builds.items())
            if other != name and _exports_symbols(b)
        ]  # fmt: skip
        self.sources(name).cflags = cflags
        result = self._builder(name, self.sources(name).texts(), cflags=cflags,
                               extra_symbols=extra)  # fmt: skip
        self.builds[name] = result
        return result

    def last_build(self, name: str) -> BuildResult:
        try:
            return self.builds[name]
        except KeyError:
            raise ModuleError(
                f"no build of {name} in this notebook yet",
                module=name,
                hint=f"run the %%kmodule {name} cell first; for the kernel's own modules "
                f"use %modprobe {name}",
            ) from None

    # -- loading ----------------------------------------------------------------------

    def load(
        self,
        name: str,
        params: Sequence[str] | Mapping[str, object] = (),
        *,
        reload: bool = False,
        force: bool = False,
    ) -> ModuleChange:
        """insmod the last build of NAME; with ``reload``, rmmod a loaded copy first."""
        built = self.last_build(name)
        info = read_modinfo(built.ko_path)
        vm = self.vm
        before: list[LogRecord] = []
        reloaded = False
        if reload and kmod.is_loaded(vm, info.name):
            before = kmod.rmmod(vm, info.name, force=force).log
            reloaded = True
        mark = log_mark(vm)
        symvers = [
            b.build_dir / "Module.symvers" for other, b in sorted(self.builds.items())
            if other != name
        ]  # fmt: skip
        op = kmod.insmod(vm, built.ko_path, params, info=info, symbol_sources=symvers)
        self.load_marks[info.name] = mark  # only a load that worked moves the mark
        merged = ModuleOperation(op.action, op.module, op.argv, before + op.log, op.duration)
        return ModuleChange(merged, reloaded=reloaded)

    def unload(self, name: str, *, force: bool = False) -> ModuleChange:
        return ModuleChange(kmod.rmmod(self.vm, name, force=force))

    def modprobe(
        self, name: str, params: Sequence[str] = (), *, remove: bool = False
    ) -> ModuleChange:
        """modprobe (or ``-r``) by name; says which modules came or went."""
        vm = self.vm
        before = {m.name for m in kmod.lsmod(vm)}
        mark = log_mark(vm)
        op = kmod.modprobe(vm, name, params, remove=remove)
        after_list = [m.name for m in kmod.lsmod(vm)]
        after = set(after_list)
        loaded = [m for m in reversed(after_list) if m not in before]  # in load order
        for module in loaded:
            self.load_marks[module] = mark
        return ModuleChange(op, loaded=loaded, removed=sorted(before - after))


def _exports_symbols(result: BuildResult) -> bool:
    symvers = result.build_dir / "Module.symvers"
    try:
        return symvers.stat().st_size > 0
    except OSError:
        return False


_current: Workspace | None = None


def current() -> Workspace | None:
    """The workspace of this process's notebook (set by its session), if there is one."""
    return _current


def set_current(workspace: Workspace | None) -> Workspace | None:
    """Make ``workspace`` the current one; returns the one it replaces."""
    global _current
    old, _current = _current, workspace
    return old
