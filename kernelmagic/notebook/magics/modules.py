# SPDX-License-Identifier: MIT
"""``%insmod``, ``%rmmod``, ``%lsmod``, ``%modinfo``, ``%modprobe``: modules in the lab VM."""

from __future__ import annotations

import fnmatch

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from kernelmagic.guest import kmod
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.names import kernel_module_name
from kernelmagic.notebook.magics._common import (
    GUEST_LEFT,
    LabMagics,
    learner_errors,
    parse,
    user_values,
)
from kernelmagic.notebook.views import LoadResult, ModuleCard, ModuleTable

__all__ = ["TIMEOUT_HELP", "ModuleMagics"]

TIMEOUT_HELP = (
    "seconds to wait for the module's init (or exit) to return; default 10, for the "
    "notebook: %%config LabMagics.module_timeout = 20"
)


@magics_class
class ModuleMagics(LabMagics):
    @line_magic
    @learner_errors("%insmod")
    @magic_arguments()
    @argument("--timeout", type=float, metavar="S", help=TIMEOUT_HELP)
    @argument("name", help="a module built in this notebook (by its kmodule cell)")
    @argument("params", nargs="*", default=[], metavar="KEY=VALUE", help="module parameters")
    def insmod(self, line: str) -> LoadResult:
        """Load the last build of NAME into the lab VM, with parameters.

        Arguments are split as a shell splits them, and a value with spaces reaches the
        module whole (the kernel needs it in double quotes; they are added for you).
        ``{var}`` is replaced by a Python variable. The result holds the kernel log lines
        the load produced (``r.log``). An init that has not returned after the timeout
        (10 s, or ``--timeout S``) is shown where it is stuck, and the lab VM restarted.
        A crash is shown at the line of your cell where it happened. Example::

            %insmod hello name="Linux Enthusiast"
            r = %insmod hello name="{who}" count=3
            %insmod slow --timeout 30
        """
        args = parse(self.insmod, line)
        with user_values(f"%insmod {args.name}"):
            name = kernel_module_name(args.name)
            kmod.kernel_params(args.params)
        timeout = self.timeout(args.timeout)
        with self.progress() as progress, self.session.doing(f"insmod {name} ran", GUEST_LEFT):
            change = self.workspace.load(name, args.params, timeout=timeout, progress=progress)
        return LoadResult.of(change, self.session.explain)

    @line_magic
    @learner_errors("%rmmod")
    @magic_arguments()
    @argument("name", help="a loaded module")
    @argument("-f", "--force", action="store_true",
              help="unload even when in use (rmmod -f; taints the kernel: R)")  # fmt: skip
    @argument("--timeout", type=float, metavar="S", help=TIMEOUT_HELP)
    def rmmod(self, line: str) -> LoadResult:
        """Unload a module from the lab VM; shows what its exit function logged.

        An exit function that has not returned after the timeout (10 s, or ``--timeout
        S``) is shown where it is stuck, and the lab VM restarted. Example::

            %rmmod hello
        """
        args = parse(self.rmmod, line)
        with user_values(f"%rmmod {args.name}"):
            name = kernel_module_name(args.name)
        timeout = self.timeout(args.timeout)
        with self.progress() as progress, self.session.doing(f"rmmod {name} ran", GUEST_LEFT):
            change = self.workspace.unload(name, force=args.force, timeout=timeout,
                                           progress=progress)  # fmt: skip
        return LoadResult.of(change, self.session.explain)

    @line_magic
    @learner_errors("%lsmod")
    @magic_arguments()
    @argument("pattern", nargs="?", default="",
              help="only modules whose name contains it (or matches it, with * ? [ ])")  # fmt: skip
    def lsmod(self, line: str) -> ModuleTable:
        """The modules loaded in the lab VM: size, use count and the modules using each.

        Example::

            %lsmod
            %lsmod virtio*
        """
        args = parse(self.lsmod, line)
        modules = kmod.lsmod(self.workspace.vm)
        if args.pattern:
            wild = any(c in args.pattern for c in "*?[")
            modules = [
                m for m in modules
                if (fnmatch.fnmatchcase(m.name, args.pattern) if wild else args.pattern in m.name)
            ]  # fmt: skip
        return ModuleTable(modules, args.pattern)

    @line_magic
    @learner_errors("%modinfo")
    @magic_arguments()
    @argument("name", help="a module built here, or one of the lab VM's kernel")
    def modinfo(self, line: str) -> ModuleCard:
        """A module's licence, author, description, parameters and vermagic.

        For a module built in this notebook it reads the ``.ko`` on the host (no VM
        needed); for any other name it asks ``modinfo`` in the guest. Example::

            %modinfo hello
            %modinfo bridge
        """
        args = parse(self.modinfo, line)
        built = self.workspace.builds.get(args.name)
        if built is not None:
            info = read_modinfo(built.ko_path)
            return ModuleCard(info, build=built, size=built.ko_path.stat().st_size)
        with user_values(f"%modinfo {args.name}"):
            name = kernel_module_name(args.name)
        return ModuleCard(kmod.modinfo(self.workspace.vm, name))

    @line_magic
    @learner_errors("%modprobe")
    @magic_arguments()
    @argument("-r", "--remove", action="store_true",
              help="unload the module and the dependencies nothing else uses")  # fmt: skip
    @argument("--timeout", type=float, metavar="S", help=TIMEOUT_HELP)
    @argument("name", help="an installed module (the kernel's, or yours via --install)")
    @argument("params", nargs="*", default=[], metavar="KEY=VALUE", help="module parameters")
    def modprobe(self, line: str) -> LoadResult:
        """Load (or with -r unload) a module by name, with its dependencies.

        modprobe finds modules under ``/lib/modules/$(uname -r)`` through the index that
        ``depmod`` writes; install your own first with ``%%kmodule NAME --install``.
        Example::

            %modprobe bridge
            %modprobe -r bridge
        """
        args = parse(self.modprobe, line)
        with user_values(f"%modprobe {args.name}"):
            name = kernel_module_name(args.name)
            kmod.kernel_params(args.params)
        timeout = self.timeout(args.timeout)
        what = f"modprobe {'-r ' if args.remove else ''}{name} ran"
        with self.progress() as progress, self.session.doing(what, GUEST_LEFT):
            change = self.workspace.modprobe(name, args.params, remove=args.remove,
                                             timeout=timeout, progress=progress)  # fmt: skip
        return LoadResult.of(change, self.session.explain)
