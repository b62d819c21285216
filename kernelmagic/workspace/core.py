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

A module can leave the kernel in a state only a fresh one gets out of: an init or exit
stuck for good (OperationStuck), an oops in init that leaves the module ``[Loading]``
(a second load of that name would wait for ever), an insmod interrupted while still in
the kernel. The workspace restarts the VM then (and says so in
:attr:`ModuleChange.notices`), or, at a deadline, before the error reaches the learner.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from kernelmagic.errors import (
    BuildError,
    KernelCrashed,
    KernelMagicError,
    ModuleError,
    OperationStuck,
    SetupError,
    UsageError,
)
from kernelmagic.guest import kmod, modop
from kernelmagic.guest.faults import Fault, Frame, explain, explain_stack
from kernelmagic.guest.kernel_log import LogMark, LogRecord
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource, one_line
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.watch import stops_the_guest
from kernelmagic.names import kernel_module_name
from kernelmagic.workspace.model import (
    Builder,
    LabMachine,
    LastOperation,
    ModuleChange,
    ModuleSources,
)

__all__ = ["Workspace", "current", "set_current"]


class Workspace:
    """The modules of one notebook (or run): their sources, builds and load marks."""

    def __init__(
        self,
        vm: Callable[[], LabMachine],
        *,
        builder: Builder | None = None,
        taken_names: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._vm_provider = vm
        self._builder: Builder = builder or build_module
        self._taken_names = taken_names or _bundle_module_names
        self.modules: dict[str, ModuleSources] = {}
        self.builds: dict[str, BuildResult] = {}
        #: Where the kernel log stood when each module was last loaded from here.
        self.load_marks: dict[str, LogMark] = {}
        #: Modules an oops left ``Loading`` or ``Unloading`` in this boot.
        self.wedged: dict[str, str] = {}
        #: An insmod, rmmod or modprobe that Ctrl-C left running in the guest.
        self.interrupted: str | None = None
        #: What each loaded module was built from: a later build (without --load) must
        #: not decode the crash of the copy still running in the kernel.
        self.loaded: dict[str, tuple[Path, dict[str, CellSource]]] = {}
        #: How each module's last insmod/rmmod/modprobe ended; kept across restarts.
        self.last_ops: dict[str, LastOperation] = {}

    @property
    def vm(self) -> LabMachine:
        """The running lab VM, from the provider (which may boot it)."""
        return self._vm_provider()

    # -- reading the kernel's reports ------------------------------------------------

    def ko_of(self, module: str) -> Path | None:
        """The ``.ko`` of a module name: the loaded copy's, else the last build's."""
        if module in self.loaded:
            return self.loaded[module][0]
        built = self.builds.get(module)
        return built.ko_path if built is not None else None

    def files_of(self, module: str) -> Mapping[str, CellSource] | None:
        """A module's files as its cells gave them (the loaded copy's, else the last)."""
        if module in self.loaded:
            return self.loaded[module][1]
        sources = self.modules.get(module)
        return sources.files if sources is not None else None

    def explain(self, report: CrashReport) -> Fault:
        """A crash report in plain words, its module frames decoded to the learner's lines."""
        return explain(report, self.ko_of, self.files_of)

    def explain_stack(self, stack: Sequence[str]) -> tuple[Frame, ...]:
        """A stuck task's kernel stack, decoded the same way."""
        return explain_stack(stack, self.ko_of, self.files_of)

    def forget_loads(self) -> None:
        """The guest's kernel is gone (stopped, restarted, crashed): its log marks with it."""
        self.load_marks.clear()
        self.wedged.clear()
        self.loaded.clear()
        self.interrupted = None

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

    def check_name(self, name: str) -> None:
        """Refuse a module name the lab's kernel already has (built in, or in the VM)."""
        taken = self._taken_names().get(kernel_module_name(name))
        if taken:
            raise UsageError(
                f"{name} is the name of a module the lab's kernel already has ({taken}); "
                f"yours would clash with it: give it another name, e.g. my_{name}"
            )

    def build(self, name: str, *, cflags: str = "") -> BuildResult:
        """Build NAME from its sources, with the symbols of the other modules built here."""
        self.check_name(name)
        extra = [
            b.build_dir for other, b in sorted(self.builds.items())
            if other != name and _exports_symbols(b)
        ]  # fmt: skip
        self.sources(name).cflags = cflags
        try:
            result = self._builder(name, self.sources(name).texts(), cflags=cflags,
                                   extra_symbols=extra)  # fmt: skip
        except BuildError as exc:
            # Its message names gcc's file line; the learner sees cell lines.
            errors = (d for d in exc.diagnostics if getattr(d, "severity", "") == "error")
            first = next(errors, None)
            if first is not None and str(exc) == str(first):
                exc.args = (one_line(first, self.sources(name).files),)
            raise
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
        timeout: float = kmod.DEFAULT_TIMEOUT,
        progress: Callable[[str], None] | None = None,
    ) -> ModuleChange:
        """insmod the last build of NAME; with ``reload``, rmmod a loaded copy first.

        An init still running after ``timeout`` s without a new log line (60 s at
        most) restarts the VM and raises OperationStuck; ``progress`` hears of it.
        """
        built = self.last_build(name)
        info = read_modinfo(built.ko_path)
        self.check_name(info.name)
        notices, vm = self._ready(f"insmod {info.name}", load=info.name)
        before: list[LogRecord] = []
        omitted = 0
        reloaded = False
        with self._watching(vm, f"insmod {info.name}", info.name, unload=False):
            if reload and kmod.is_loaded(vm, info.name):
                gone = kmod.rmmod(vm, info.name, force=force, timeout=timeout, progress=progress)
                before, omitted, reloaded = gone.log, gone.omitted, True
            symvers = [
                b.build_dir / "Module.symvers" for other, b in sorted(self.builds.items())
                if other != name
            ]  # fmt: skip
            op = kmod.insmod(vm, built.ko_path, params, info=info, symbol_sources=symvers,
                             timeout=timeout, progress=progress)  # fmt: skip
        if op.mark is not None:
            self.load_marks[info.name] = op.mark  # only a load that worked moves the mark
        self.loaded[info.name] = (built.ko_path, dict(self.sources(name).files))
        merged = dataclasses.replace(op, log=before + op.log, omitted=omitted + op.omitted)
        return ModuleChange(merged, reloaded=reloaded, notices=notices, omitted=merged.omitted)

    def unload(
        self,
        name: str,
        *,
        force: bool = False,
        timeout: float = kmod.DEFAULT_TIMEOUT,
        progress: Callable[[str], None] | None = None,
    ) -> ModuleChange:
        """rmmod NAME; an exit stuck past ``timeout`` restarts the VM (OperationStuck)."""
        name = kernel_module_name(name)
        notices, vm = self._ready(f"rmmod {name}")
        with self._watching(vm, f"rmmod {name}", name, unload=True):
            op = kmod.rmmod(vm, name, force=force, timeout=timeout, progress=progress)
        self.loaded.pop(name, None)
        return ModuleChange(op, notices=notices, omitted=op.omitted)

    def modprobe(
        self,
        name: str,
        params: Sequence[str] = (),
        *,
        remove: bool = False,
        timeout: float = kmod.DEFAULT_TIMEOUT,
        progress: Callable[[str], None] | None = None,
    ) -> ModuleChange:
        """modprobe (or ``-r``) by name; says which modules came or went."""
        notices, vm = self._ready(f"modprobe {name}")
        before = {m.name for m in kmod.lsmod(vm)}
        action = f"modprobe -r {name}" if remove else f"modprobe {name}"
        with self._watching(vm, action, kernel_module_name(name), unload=remove):
            op = kmod.modprobe(vm, name, params, remove=remove, timeout=timeout,
                               progress=progress)  # fmt: skip
        after_list = [m.name for m in kmod.lsmod(vm)]
        after = set(after_list)
        loaded = [m for m in reversed(after_list) if m not in before]  # in load order
        for module in loaded:
            if op.mark is not None:
                self.load_marks[module] = op.mark
        return ModuleChange(op, loaded=loaded, removed=sorted(before - after), notices=notices)

    # -- a kernel that only a restart mends ----------------------------------------------

    def _ready(self, action: str, *, load: str | None = None) -> tuple[list[str], LabMachine]:
        """The VM for ``action``, restarted first if an earlier one left the kernel stuck."""
        vm = self.vm
        reason = ""
        if self.interrupted is not None:
            try:
                running = kmod.operations_running(vm)
            except KernelMagicError:  # the guest does not answer: a CPU may be stuck
                running = True
            if running:
                reason = (
                    f"the interrupted {self.interrupted} was still running in the guest "
                    "(a module's init or exit cannot be stopped)"
                )
            self.interrupted = None
        if load is not None and load in self.wedged:
            reason = (
                f"an oops in {load}'s {'init' if self.wedged[load] == 'Loading' else 'exit'} "
                f"left it [{self.wedged[load]}] for good, and a module of that name cannot "
                "be loaded again in this boot"
            )
        if not reason:
            return [], vm
        vm = self._restart()
        return [
            f"the lab VM was restarted before {action}: {reason}; modules loaded before "
            "and files in the guest are gone"
        ], vm

    def _restart(self) -> LabMachine:
        """Kill the VM and start a fresh one (through the provider, which may boot it)."""
        self.vm.kill()
        self.forget_loads()
        vm = self.vm
        if not vm.is_running():
            vm.start()
        vm.wait_settled()
        return vm

    @contextlib.contextmanager
    def _watching(
        self, vm: LabMachine, action: str, module: str, *, unload: bool
    ) -> Iterator[None]:
        """Turn what an operation left in the guest into what the workspace remembers."""

        def ended(outcome: str) -> None:
            self.last_ops[module] = LastOperation(action, unload, outcome)

        try:
            yield
        except OperationStuck as exc:
            ended("stuck")
            raise self._restart_after(exc) from exc
        except ModuleError as exc:
            ended("refused" if exc.errno_name else "crashed")
            if not exc.errno_name:  # killed (an oops), not refused: in what state is it?
                with contextlib.suppress(KernelMagicError):
                    state = kmod.module_state(vm, module)
                    if state in ("Loading", "Unloading"):
                        self.wedged[module] = state
            raise
        except KernelCrashed as exc:
            ended("crashed")
            self.forget_loads()
            if exc.crash is None or stops_the_guest(exc.crash):
                vm.kill()  # a CPU that never comes back: the next operation boots anew
            raise
        except KeyboardInterrupt:
            ended("interrupted")
            self.interrupted = action
            raise
        ended("done")

    def _restart_after(self, stuck: OperationStuck) -> OperationStuck:
        """Restart the VM after an operation stuck for good; the error says so."""
        try:
            self._restart()
        except KernelMagicError as exc:
            message = f"{stuck} Restarting the lab VM failed too: {exc}"
            restarted = False
        else:
            message = str(stuck).removesuffix(modop.MUST_RESTART) + modop.WAS_RESTARTED
            restarted = True
        return OperationStuck(
            message, argv=stuck.argv, seconds=stuck.seconds, module=stuck.module,
            state=stuck.state, stack=stuck.stack, restarted=restarted,
        )  # fmt: skip


def _bundle_module_names() -> Mapping[str, str]:
    """Names the current bundle's kernel already has, and where (none without a bundle)."""
    try:
        bundle = Bundle.load()
    except SetupError:
        return {}
    return bundle.taken_module_names()


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
