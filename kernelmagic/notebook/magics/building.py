# SPDX-License-Identifier: MIT
"""``%%kmodule``, ``%%kfile`` and ``%kexport``: the learner's C, built with kbuild."""

from __future__ import annotations

from pathlib import Path

from IPython.core.magic import cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from kernelmagic.errors import BuildError
from kernelmagic.guest.kmod import install
from kernelmagic.guest.modinfo import read_modinfo
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.kbuild.tree import export_sources, kbuild_text
from kernelmagic.kbuild.userprog import build_user_program, check_request
from kernelmagic.notebook.magics._common import (
    GUEST_LEFT,
    ArgumentError,
    LabMagics,
    learner_errors,
    parse,
    quiet,
    user_values,
)
from kernelmagic.notebook.views import (
    BuildFailure,
    DiagnosticList,
    KModuleResult,
    LoadResult,
    ModuleCard,
    Notice,
    UserProgramResult,
)

__all__ = ["BUILD_LEFT", "BuildMagics"]

BUILD_LEFT = "the compiler was stopped and nothing was built; run the cell again to build"


@magics_class
class BuildMagics(LabMagics):
    @cell_magic
    @learner_errors("%%kmodule")
    @magic_arguments("%kmodule")  # shown after a "%": the usage line reads %%kmodule
    @argument("name", help="the module's name: letters, digits and _, e.g. hello")
    @argument(
        "--load",
        action="store_true",
        help="load it after a good build (unloading a loaded copy first)",
    )
    @argument(
        "--install",
        action="store_true",
        help="copy it into the guest's /lib/modules/$(uname -r)/extra and run depmod -a",
    )
    @argument(
        "--cflags",
        default="",
        metavar="FLAGS",
        help='extra compiler flags, as one quoted string: --cflags "-DDEBUG -O1"; quotes '
        'inside reach the compiler: --cflags "-DGREETING=\\"hi\\"" defines a C string',
    )
    @argument(
        "--force",
        action="store_true",
        help="with --load: unload the loaded copy with rmmod -f, even when in use",
    )
    @argument(
        "--timeout",
        type=float,
        metavar="S",
        help="with --load: seconds to wait for init (and the old copy's exit) to return; "
        "default 10, for the notebook: %%config LabMagics.module_timeout = 20",
    )
    def kmodule(self, line: str, cell: str) -> KModuleResult:  # fmt: skip
        """Build the cell as a kernel module for the lab VM's kernel, and show its card.

        The cell is the module's C source; ``%%kfile NAME/FILE`` cells run before it add
        files. Errors and warnings are shown at their cell line (this line is line 1).
        A build failure fails the cell. With ``--load``, a crash or an init that does
        not return (within ``--timeout S``) is shown at the line of this cell. Example::

            %%kmodule hello --load
            #include <linux/module.h>
            static int __init hello_init(void) { pr_info("Hello!\\n"); return 0; }
            static void __exit hello_exit(void) { pr_info("Bye!\\n"); }
            module_init(hello_init);
            module_exit(hello_exit);
            MODULE_LICENSE("GPL");
        """
        args = parse(self.kmodule, line)
        workspace = self.workspace
        with user_values(f"%%kmodule {args.name}"):
            kbuild_text(args.name, {"x.c": ""}, args.cflags)  # name and flags, before any state
            workspace.set_main(args.name, cell)
            kbuild_text(args.name, workspace.sources(args.name).texts(), args.cflags)
        files = workspace.sources(args.name).files
        timeout = self.timeout(args.timeout) if args.load else None
        try:
            with self.session.doing(f"building {args.name}", BUILD_LEFT):
                built = workspace.build(args.name, cflags=args.cflags)
        except BuildError as exc:
            self.show(BuildFailure(args.name, exc, files))
            raise quiet(exc) from None
        card = ModuleCard(read_modinfo(built.ko_path), build=built,
                          size=built.ko_path.stat().st_size)  # fmt: skip
        result = KModuleResult(card, DiagnosticList(built.diagnostics, files))
        try:
            if args.install:
                with self.session.doing(f"installing {args.name}", GUEST_LEFT):
                    result.installed = install(workspace.vm, built.ko_path, info=card.info)
            if args.load:
                what = f"insmod {args.name} ran"
                with self.progress() as progress, self.session.doing(what, GUEST_LEFT):
                    change = workspace.load(args.name, reload=True, force=args.force,
                                            timeout=timeout, progress=progress)  # fmt: skip
                result.load = LoadResult.of(change, self.session.explain)
        except BaseException:
            self.show(result)  # the build worked: keep its card above the failure
            raise
        return result

    @cell_magic
    @learner_errors("%%userprog")
    @magic_arguments("%userprog")
    @argument("name", help="the program's name: letters, digits and _, e.g. ctl")
    @argument(
        "--cflags",
        default="",
        metavar="FLAGS",
        help='extra gcc flags, as one quoted string: --cflags "-DVERBOSE -O0"',
    )
    def userprog(self, line: str, cell: str) -> UserProgramResult:
        """Compile the cell as a user-space C program for the lab VM, runnable there as NAME.

        The guest has no compiler: gcc on the host builds the program statically (no
        libraries needed in the guest) into the folder the VM mounts, and the guest's
        shell finds it by name, after a restart too. Errors and warnings are shown at
        their cell line, as for ``%%kmodule``. Example::

            %%userprog hi
            #include <stdio.h>
            int main(void) { puts("hi from user space"); return 0; }

        and then ``%vmsh hi``.
        """
        args = parse(self.userprog, line)
        with user_values(f"%%userprog {args.name}"):
            check_request(args.name, args.cflags)
        files = {f"{args.name}.c": CellSource(cell, f"%%userprog {args.name}", main=True)}
        try:
            with self.session.doing(f"compiling {args.name}", BUILD_LEFT):
                program = build_user_program(args.name, cell, cflags=args.cflags)
        except BuildError as exc:
            self.show(BuildFailure(args.name, exc, files))
            raise quiet(exc) from None
        return UserProgramResult(program, DiagnosticList(program.diagnostics, files))

    @cell_magic
    @learner_errors("%%kfile")
    @magic_arguments("%kfile")
    @argument("path", metavar="NAME/FILE", help="module name and file name, e.g. hello/util.h")
    def kfile(self, line: str, cell: str) -> Notice:
        """Add a .c or .h file to module NAME; the next ``%%kmodule NAME`` builds it too.

        Run these cells before the ``%%kmodule NAME`` cell. A cell with nothing but
        blank lines removes the file. Example::

            %%kfile hello/greeting.h
            #define GREETING "Hello"
        """
        args = parse(self.kfile, line)
        name, _, filename = args.path.partition("/")
        if not filename:
            raise ArgumentError(f"%%kfile {args.path}: write NAME/FILE, e.g. {name}/util.h")
        if filename == f"{name}_main.c":
            raise ArgumentError(f"%%kfile: {filename} is the name the %%kmodule cell gets")
        with user_values(f"%%kfile {args.path}"):
            kbuild_text(name, {filename: "", f"{name}_main.c": ""})
        if not cell.strip():
            gone = self.workspace.remove_file(name, filename)
            return Notice(f"{name}/{filename} removed" if gone else f"{name}/{filename}: empty")
        self.workspace.add_file(name, filename, cell)
        lines = len(cell.splitlines())
        return Notice(
            f"{name}/{filename}: {lines} line{'' if lines == 1 else 's'}, "
            f"built by the next %%kmodule {name}"
        )

    @line_magic
    @learner_errors("%kexport")
    @magic_arguments()
    @argument("name", help="a module whose %%kmodule cell has run")
    @argument("dir", help="folder to write into (created if needed)")
    def kexport(self, line: str) -> Notice:
        """Write a module's sources, its Kbuild and a standalone Makefile into DIR.

        The folder builds on a real Linux machine that has the headers of its kernel
        (``make``), or for another kernel with ``make KDIR=...``. Example::

            %kexport hello ~/hello-module
        """
        args = parse(self.kexport, line)
        sources = self.workspace.modules.get(args.name)
        if sources is None or not sources.has_main:
            raise ArgumentError(f"%kexport: run the %%kmodule {args.name} cell first")
        dest = Path(args.dir).expanduser()
        with user_values(f"%kexport {args.name}"):
            written = export_sources(args.name, sources.texts(), dest, sources.cflags)
        names = ", ".join(p.name for p in written)
        return Notice(f"exported {args.name} to {dest}: {names}\nbuild it there with: make")
