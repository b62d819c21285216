# SPDX-License-Identifier: MIT
"""The ``kernelmagic`` command: the lab without Jupyter, for setup, scripts and CI.

Exit codes: 0 success; 1 a setup or VM problem; 2 bad usage; 3 build failed;
4 load failed; 5 unload failed; 6 a batch ran, but not every notebook passed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kernelmagic.errors import (
    BuildError,
    KernelCrashed,
    KernelMagicError,
    ModuleError,
    OperationStuck,
    UsageError,
)

if TYPE_CHECKING:
    from kernelmagic.machine.crash import CrashReport
    from kernelmagic.workspace import Workspace

__all__ = ["EXIT_BUILD", "EXIT_LOAD", "EXIT_SETUP", "EXIT_UNLOAD", "EXIT_USAGE", "main"]

EXIT_SETUP, EXIT_USAGE, EXIT_BUILD, EXIT_LOAD, EXIT_UNLOAD = 1, 2, 3, 4, 5

_EXAMPLES = {
    "vm build": "example: kernelmagic vm build --kernel-version 6.1.0-56-amd64",
    "vm boot": "examples: kernelmagic vm boot -- uname -r\n          kernelmagic vm boot",
    "vm probe-accel": "example: kernelmagic vm probe-accel --force",
    "doctor": "example: kernelmagic doctor",
    "build": "example: kernelmagic build modules/hello.c -o /tmp/hello.ko",
    "run": 'example: kernelmagic run modules/hello.c name="Linux Enthusiast"',
    "cache clean": "example: kernelmagic cache clean",
    "kernelspec install": "example: kernelmagic kernelspec install",
    "course student": "examples: kernelmagic course student build/student\n"
    "          kernelmagic course student /tmp/handout --notebooks ~/course/04_params.ipynb",
    "course new": "example: kernelmagic course new 18_timers   (writes notebooks/18_timers.ipynb)",
    "batch run": "examples: kernelmagic batch run notebooks --workers 2 --out build/batch\n"
    "          kernelmagic batch run notebooks/02_hello_kernel.ipynb -p who Ada --out /tmp/b\n"
    "          kernelmagic batch run notebooks --kernel-version 6.12.107+deb12-amd64 "
    "--out build/on-6.12\n"
    "exit status: 0 when every notebook passed, 6 when one did not",
    "course nbgrader": "example: kernelmagic course nbgrader ~/course\n"
    "         then, in ~/course: nbgrader generate_assignment 02_hello_kernel",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kernelmagic",
        description="Build Linux kernel modules and run them in a throw-away QEMU VM.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(group: argparse._SubParsersAction, name: str, full: str, help_: str):  # type: ignore[type-arg]
        return group.add_parser(
            name, help=help_, description=help_, epilog=_EXAMPLES[full],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip

    vm = sub.add_parser("vm", help="build, boot and probe the lab VM")
    vm_sub = vm.add_subparsers(dest="vm_command", required=True)
    p = add(vm_sub, "build", "vm build", "build the VM bundle from Debian packages")
    p.add_argument("--kernel-version", metavar="V", help="kernel release, e.g. 6.1.0-56-amd64")
    p.add_argument("--force", action="store_true", help="rebuild even if up to date")
    p = add(vm_sub, "boot", "vm boot", "boot the VM; run one command, or open a shell")
    p.add_argument("--accel", choices=["kvm", "tcg"], help="override the accelerator")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline for the command")
    p.add_argument("guest_command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    p = add(vm_sub, "probe-accel", "vm probe-accel", "find out once whether KVM boots here")
    p.add_argument("--force", action="store_true", help="probe again even if recorded")

    add(sub, "doctor", "doctor", "show what the lab needs, what is present, and fixes")

    p = add(sub, "build", "build", "build a module from FILE.c or a folder of sources")
    p.add_argument("source", type=Path, help="FILE.c or DIR")
    p.add_argument("-o", "--output", type=Path, help="where to write the .ko")
    p.add_argument("--cflags", default="", help="extra compiler flags (one string)")

    p = add(sub, "run", "run", "build, load with parameters, unload, print the kernel log")
    p.add_argument("source", type=Path, help="FILE.c (the module is named after it)")
    p.add_argument("params", nargs="*", metavar="KEY=VALUE", help="module parameters")
    p.add_argument("--cflags", default="", help="extra compiler flags (one string)")
    p.add_argument(
        "--timeout", type=float, default=10.0, metavar="S",
        help="seconds the module's init or exit may run without a new kernel log line "
        "before it counts as stuck (default 10, at most 60 in all)",
    )  # fmt: skip

    cache = sub.add_parser("cache", help="the cache in $KERNELMAGIC_HOME")
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    add(cache_sub, "clean", "cache clean", "remove the bundle, downloads and build cache")

    ks = sub.add_parser("kernelspec", help="the course's Jupyter kernel")
    ks_sub = ks.add_subparsers(dest="kernelspec_command", required=True)
    add(ks_sub, "install", "kernelspec install", "install it into this environment")

    course = sub.add_parser("course", help="course tooling for instructors")
    course_sub = course.add_subparsers(dest="course_command", required=True)
    p = add(course_sub, "student", "course student",
            "write student notebooks: no solutions, instructor-only cells or outputs")  # fmt: skip
    p.add_argument("out", type=Path, help="output folder, outside the lessons' folder")
    p.add_argument("--notebooks", type=Path, default=None, metavar="DIR|FILE.ipynb",
                   help="the lessons: a folder (every *.ipynb in it) or one notebook "
                   "(default: ./notebooks, relative to where you run this)")  # fmt: skip
    p = add(course_sub, "new", "course new", "write a new lesson from the course's template")
    p.add_argument("lesson", help="the lesson's name, NN_topic, e.g. 18_timers")
    p.add_argument("--dir", type=Path, default=Path("notebooks"),
                   help="where to write it (default: ./notebooks)")  # fmt: skip
    p.add_argument("--module", help="the exercise module's name (default: from the topic)")
    p = add(course_sub, "nbgrader", "course nbgrader",
            "write an nbgrader course folder: its config, each lesson an assignment")  # fmt: skip
    p.add_argument("dir", type=Path, help="the course folder (created; not under notebooks/)")
    p.add_argument("--notebooks", type=Path, default=None,
                   help="a folder of lessons or one notebook (default ./notebooks)")  # fmt: skip
    p.add_argument("--course-id", default="kernelmagic", help="nbgrader's course id")
    p.add_argument("--exchange", type=Path, default=None, metavar="DIR",
                   help="a shared nbgrader exchange (mode 1777, e.g. a course server's "
                   "PREFIX/exchange) instead of DIR/exchange")  # fmt: skip

    batch = sub.add_parser("batch", help="run notebooks with papermill, each in its own VM")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    p = add(batch_sub, "run", "batch run",
            "execute notebooks with papermill on the course's kernel, N at a time, each in its "
            "own lab VM; write the executed notebooks, report.json and report.html")  # fmt: skip
    p.add_argument("sources", nargs="+", type=Path, metavar="NOTEBOOK|DIR")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where the executed notebooks and the reports go")  # fmt: skip
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("KEY", "VALUE"), help="a parameter for every notebook, repeatable")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="notebooks run at a time, each with its own VM (default 1)")  # fmt: skip
    p.add_argument("--timeout", type=float, default=900.0, metavar="S",
                   help="wall-clock seconds one notebook may take (default 900)")  # fmt: skip
    p.add_argument("--kernel-version", metavar="V",
                   help="run on this kernel's bundle, built first if needed; the lab's own "
                   "bundle stays the default")  # fmt: skip

    from kernelmagic.cli.hub import add_hub_parser

    add_hub_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except BuildError as exc:
        _print_build_failure(exc)
        return EXIT_BUILD
    except UsageError as exc:
        print(f"kernelmagic: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KernelMagicError as exc:
        print(f"kernelmagic: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except OSError as exc:
        # A file we were asked to read or write, or a full disk: the host's, not ours.
        print(f"kernelmagic: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)  # fmt: skip
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("kernelmagic: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "vm":
        if args.vm_command == "build":
            return _vm_build(args)
        if args.vm_command == "boot":
            return _vm_boot(args)
        return _vm_probe(args)
    if args.command == "doctor":
        from kernelmagic.cli.doctor import run_doctor

        return run_doctor()
    if args.command == "build":
        return _build(args)
    if args.command == "run":
        return _run(args)
    if args.command == "cache":
        return _cache_clean()
    if args.command == "kernelspec":
        from kernelmagic.notebook.kernelspec import install

        print(f"installed the kernelmagic Jupyter kernel in {install()}")
        return 0
    if args.command == "course" and args.course_command == "nbgrader":
        from kernelmagic.cli.grading import write_nbgrader_course

        return write_nbgrader_course(args)
    if args.command == "course" and args.course_command == "student":
        from kernelmagic.course.student import write_student_versions

        written = write_student_versions(args.out, args.notebooks)
        print(f"wrote {len(written)} student notebooks to {args.out}")
        return 0
    if args.command == "course" and args.course_command == "new":
        from kernelmagic.course.template import new_lesson

        for path in new_lesson(args.lesson, args.dir, module=args.module):
            print(f"wrote {path}")
        return 0
    if args.command == "batch":
        from kernelmagic.batch.command import run_command

        return run_command(args.sources, args.out, parameters=args.parameter,
                           workers=args.workers, timeout=args.timeout,
                           kernel_version=args.kernel_version)  # fmt: skip
    if args.command == "hub":
        from kernelmagic.cli.hub import run_hub

        return run_hub(args)
    raise AssertionError(args.command)


def _vm_build(args: argparse.Namespace) -> int:
    from kernelmagic.machine.bundle import build_bundle

    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    bundle = build_bundle(args.kernel_version, force=args.force, progress=progress)
    print(f"bundle ready: kernel {bundle.kernel_release} in {bundle.root}")
    return 0


def _vm_probe(args: argparse.Namespace) -> int:
    from kernelmagic.machine import accel
    from kernelmagic.machine.vm import probe_accel

    choice = None if args.force else accel.recorded()
    if choice is None and not os.environ.get("KERNELMAGIC_ACCEL"):
        print("probing whether a KVM boot works here (once per host)...", file=sys.stderr)
        choice = probe_accel()
        accel.record(choice)
    elif choice is None:
        choice = accel.choose(probe_if_unknown=False)
    print(f"accelerator: {choice.accel} ({choice.reason})")
    return 0


def _vm_boot(args: argparse.Namespace) -> int:
    from kernelmagic.machine.vm import LabVM

    command = list(args.guest_command)
    if command and command[0] == "--":
        command = command[1:]
    vm = LabVM(accel=args.accel, console_shell=not command)
    try:
        vm.start()
        print(f"lab VM ready in {vm.boot_seconds:.1f} s ({vm.accel.accel if vm.accel else '?'})",
              file=sys.stderr)  # fmt: skip
        if not command:
            from kernelmagic.cli.terminal import attach_console

            return attach_console(vm)
        vm.wait_settled()
        result = vm.exec(command, timeout=args.timeout)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        print(f"[exit status {result.exit_code}]", file=sys.stderr)
        return result.exit_code
    finally:
        vm.stop()


def _read_sources(source: Path) -> tuple[str, dict[str, str]]:
    from kernelmagic.kbuild.tree import module_name_from_path

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix in (".c", ".h"))
        if not any(p.suffix == ".c" for p in files):
            raise UsageError(f"{source} has no .c file")
        return module_name_from_path(source), {p.name: p.read_text() for p in files}
    if not source.is_file():
        raise UsageError(f"{source} does not exist")
    if source.suffix != ".c":
        raise UsageError(f"{source} is not a .c file")
    name = module_name_from_path(source)
    return name, {f"{name}.c": source.read_text()}


def _build(args: argparse.Namespace) -> int:
    from kernelmagic.kbuild.builder import build_module

    name, sources = _read_sources(args.source)
    result = build_module(name, sources, cflags=args.cflags)
    for diagnostic in result.diagnostics:
        print(diagnostic, file=sys.stderr)
    output = args.output or Path(f"{name}.ko")
    if output.is_dir():
        output = output / f"{name}.ko"
    shutil.copyfile(result.ko_path, output)
    cached = " (from cache)" if result.cached else ""
    print(f"built {output} in {result.duration:.2f} s{cached}")
    return 0


def _run(args: argparse.Namespace) -> int:
    """Build, load, unload: one workspace, whose VM starts only for a module that built."""
    from kernelmagic.guest import kmod
    from kernelmagic.kbuild.sources import CellSource
    from kernelmagic.machine.vm import LabVM
    from kernelmagic.workspace import Workspace

    if args.source.suffix != ".c":
        raise UsageError(f"{args.source} is not a .c file")
    name, sources = _read_sources(args.source)
    params = [kmod.kernel_param(p) for p in args.params]
    with contextlib.ExitStack() as stack:
        workspace = Workspace(functools.cache(lambda: stack.enter_context(LabVM())))
        for filename, text in sources.items():
            source = CellSource(text, str(args.source), first_line=1, main=True)
            workspace.add_source(name, filename, source)
        result = workspace.build(name, cflags=args.cflags)
        for diagnostic in result.diagnostics:
            print(diagnostic, file=sys.stderr)
        timeout = args.timeout
        for action, step, code in (
            (f"insmod {name} {' '.join(params)}".rstrip(),
             lambda: workspace.load(name, params, timeout=timeout, progress=_progress),
             EXIT_LOAD),
            (f"rmmod {name}",
             lambda: workspace.unload(name, timeout=timeout, progress=_progress), EXIT_UNLOAD),
        ):  # fmt: skip
            try:
                change = step()
            except ModuleError as exc:
                crash = _crash_behind(workspace, exc)
                if crash is None:
                    _print_module_error(exc)
                else:  # an oops killed the tool: the decoded report says more than its log
                    print(f"kernelmagic: {exc}", file=sys.stderr)
                    print(_explained_crash(workspace, KernelCrashed(str(exc), crash=crash)),
                          file=sys.stderr)  # fmt: skip
                return code
            except KernelCrashed as exc:
                print(f"kernelmagic: {action} crashed the kernel: {exc}", file=sys.stderr)
                print(_explained_crash(workspace, exc), file=sys.stderr)
                return code
            except OperationStuck as exc:
                print(f"kernelmagic: {exc}", file=sys.stderr)
                print(_explained_stuck(workspace, exc, action), file=sys.stderr)
                return code
            for notice in change.notices:
                print(f"kernelmagic: {notice}", file=sys.stderr)
            print(f"# {action}")
            if change.omitted:
                print(f"({change.omitted} earlier log lines left out)")
            for record in change.operation.log:
                print(record.message)
    return 0


def _crash_behind(workspace: Workspace, exc: ModuleError) -> CrashReport | None:
    """The oops that made a module tool fail, as the console recorder cut it out."""
    from kernelmagic.machine.crash import looks_like_crash

    if not looks_like_crash("\n".join(exc.log)):
        return None
    console = workspace.vm.console
    deadline = time.monotonic() + 2.0  # the report may still be arriving on the console
    while not console.crashes and time.monotonic() < deadline:
        time.sleep(0.05)
    return console.crashes[-1] if console.crashes else None


def _explained_crash(workspace: Workspace, exc: KernelCrashed) -> str:
    """The crash as a notebook shows it in text: plain words, the learner's file:line."""
    if exc.crash is None:
        return exc.report
    from kernelmagic.notebook.views.crash import CrashView  # plain text; no IPython needed

    return repr(CrashView(workspace.explain(exc.crash)))


def _explained_stuck(workspace: Workspace, exc: OperationStuck, action: str) -> str:
    """Where the stuck task waits, decoded to the learner's file:line."""
    from kernelmagic.guest.fault_words import stuck_words
    from kernelmagic.notebook.views.crash import StuckView

    frames = workspace.explain_stack(exc.stack)
    tool = action.split()[0]
    what, hint = stuck_words(tool, frames, exc.state)
    return repr(StuckView(exc, frames, what=what, hint=hint, command=" ".join(action.split()[:2])))


def _progress(line: str) -> None:
    print(f"kernelmagic: {line}", file=sys.stderr)


def _cache_clean() -> int:
    from kernelmagic import paths
    from kernelmagic.machine.bundle import tree_size

    root = paths.home()
    if not root.exists():
        print(f"nothing to clean: {root} does not exist")
        return 0
    size = tree_size(root)
    shutil.rmtree(root)
    print(f"removed {root} ({size / 1e6:.0f} MB); `kernelmagic vm build` makes a new bundle")
    return 0


def _print_build_failure(exc: BuildError) -> None:
    for diagnostic in exc.diagnostics:
        print(diagnostic, file=sys.stderr)
    print(f"kernelmagic: build failed: {exc}", file=sys.stderr)


def _print_module_error(exc: ModuleError) -> None:
    print(f"kernelmagic: {exc}", file=sys.stderr)
    for line in exc.log:
        print(f"  {line}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
