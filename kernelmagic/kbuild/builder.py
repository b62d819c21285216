# SPDX-License-Identifier: MIT
"""Compile a learner's module on the host with the VM kernel's own kbuild tree.

Why the host: kbuild of a small module takes about a second here and about ninety
seconds inside a TCG guest (see DESIGN.md). Every build is cached (``cache.py``); the
key covers everything that changes the bytes of the ``.ko``: the sources, the flags,
the kernel, the compiler, and the ``Module.symvers`` of any module whose symbols are
used.

Each build lives in its own folder, ``<builds_root>/<name>-<key[:16]>/``, and is built
in place rather than in a temporary folder, so the DWARF inside the ``.ko`` points at
real source files that ``gdb`` can open later when an oops is decoded.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import BuildError, SetupError, UsageError
from kernelmagic.kbuild import cache, sandbox, toolchain
from kernelmagic.kbuild.diagnostics import Diagnostic, parse_diagnostics
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.tree import cflag_words, check_module_inputs, write_tree
from kernelmagic.procs import stop_process_group

logger = logging.getLogger(__name__)

__all__ = ["BuildResult", "build_module"]

# make cannot cope with these in M= or in KBUILD_EXTRA_SYMBOLS.
_BAD_PATH_CHARS = re.compile(r"[\s:#$%\\]")


def _symvers_paths(extra_symbols: Sequence[Path | str]) -> list[Path]:
    """Accept a ``Module.symvers`` or the build folder holding one; return the files."""
    if isinstance(extra_symbols, str | Path):
        extra_symbols = [extra_symbols]
    found = []
    for item in extra_symbols:
        path = Path(item).expanduser().resolve()
        if path.is_dir():
            path = path / "Module.symvers"
        if not path.is_file():
            raise UsageError(
                f"no Module.symvers at {path}: build the module that exports the symbols first."
            )
        if _BAD_PATH_CHARS.search(str(path)):
            raise UsageError(f"kbuild cannot use {path}: its path contains a space or ':'.")
        found.append(path)
    return found


def _run_make(
    kbuild_dir: Path, build_dir: Path, symvers: Sequence[Path], timeout: float,
    *, sandboxed: bool = False,
) -> tuple[int, str]:  # fmt: skip
    """Run kbuild and return (exit status, whole log).

    Output goes through a pipe rather than being inherited: Jupyter does not show what a
    child writes straight to file descriptors 1 and 2. stderr shares the pipe so gcc's
    messages stay in order with kbuild's progress lines. make gets its own process group
    so a timeout or a Ctrl-C stops the compiler it started too, not only make. When
    grading, make runs in the sandbox of :mod:`kernelmagic.kbuild.sandbox`.
    """
    if shutil.which("make") is None:
        raise SetupError(f"`make` is not installed: {toolchain.SETUP_HINT}.")
    # __FILE__ (in WARN_ON reports, BUG lines) names hello.c, not the cache folder.
    argv = ["make", "-C", str(kbuild_dir), f"M={build_dir}", "modules",
            f"KCFLAGS=-fmacro-prefix-map={build_dir}/="]  # fmt: skip
    if symvers:
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(str(p) for p in symvers))
    env = toolchain.make_env()
    if sandboxed:
        argv, env = sandbox.sandboxed(
            argv, writable=build_dir, read_only=[*sandbox.tree_roots(kbuild_dir), *symvers]
        )
    logger.debug("running %s", argv)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise SetupError(f"`make` is not installed: {toolchain.SETUP_HINT}.") from exc
    with proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(proc)
            out, _ = proc.communicate()
            raise BuildError(
                f"build timed out after {timeout:g} s", parse_diagnostics(out, build_dir), out
            ) from None
        except BaseException:
            stop_process_group(proc)
            raise
    return proc.returncode, out


def _failure_message(diagnostics: Sequence[Diagnostic], log: str) -> str:
    """One line for the learner: the first error, else the last thing make said."""
    for d in diagnostics:
        if d.severity == "error":
            return str(d)
    lines = [
        line.strip()
        for line in log.splitlines()
        if line.strip() and not re.search(r"(Entering|Leaving) directory", line)
    ]
    make_lines = [line for line in lines if re.match(r"^g?make(\[\d+\])?:", line)]
    last = (make_lines or lines or ["make exited with an error and printed nothing"])[-1]
    return f"build failed: {last}"


def _tree_and_release(kbuild_dir: Path | None, kernel_release: str | None) -> tuple[Path, str]:
    """The kbuild tree to use (the bundle's unless given) and the release it builds for."""
    if kbuild_dir is None:
        from kernelmagic.machine.bundle import (
            Bundle,  # lazy: the bundle pulls in the Debian tooling
        )

        bundle = Bundle.load()
        kbuild_dir = bundle.kbuild_dir
        kernel_release = kernel_release or bundle.kernel_release
    kbuild_dir = Path(kbuild_dir).resolve()
    if not (kbuild_dir / "Makefile").is_file():
        raise SetupError(
            f"no kernel build tree at {kbuild_dir}: build the bundle with "
            "`kernelmagic bundle` (or `make setup`)."
        )
    if kernel_release is None:
        kernel_release = toolchain.read_kernel_release(kbuild_dir)
    return kbuild_dir, kernel_release


def build_module(
    name: str,
    sources: Mapping[str, str],
    *,
    cflags: str = "",
    extra_symbols: Sequence[Path | str] = (),
    kbuild_dir: Path | None = None,
    kernel_release: str | None = None,
    builds_root: Path | None = None,
    timeout: float = 300.0,
) -> BuildResult:
    """Build ``<name>.ko`` from ``sources`` (file name → text), or return the cached build.

    Raises ``UsageError`` (a ``ValueError``) for a bad module or file name, ``BuildError``
    when kbuild fails (with parsed diagnostics and the whole log), ``SetupError`` when
    make, the compiler or the kbuild tree is missing. While grading
    (:func:`kernelmagic.kbuild.sandbox.grading`), the flags must be on the allow-list
    and make runs in a sandbox.
    """
    check_module_inputs(name, sources, cflags)
    grading = sandbox.grading()
    if grading:
        sandbox.check_grading_cflags(cflag_words(cflags))
    kbuild_dir, kernel_release = _tree_and_release(kbuild_dir, kernel_release)
    symvers = _symvers_paths(extra_symbols)
    compiler = toolchain.compiler_identity(toolchain.compiler_command(kbuild_dir))
    key = cache.build_key(
        name,
        sources,
        cflags=cflags,
        extra_symvers=[p.read_bytes() for p in symvers],
        kernel_release=kernel_release,
        compiler=compiler,
        sandboxed=grading,
    )

    root = Path(builds_root if builds_root is not None else paths.builds_dir())
    root = root.expanduser().resolve()
    build_dir = root / f"{name}-{key[:16]}"
    if _BAD_PATH_CHARS.search(str(build_dir)):
        raise SetupError(
            f"kbuild cannot build in {build_dir}: the path contains a space or ':'; "
            "set KERNELMAGIC_HOME to a folder without them."
        )

    # Fast path without the lock: result.json appears atomically and only when complete.
    cached = cache.load_cached(name, key, build_dir)
    if cached is not None:
        logger.debug("cache hit for %s in %s", name, build_dir)
        return cached

    root.mkdir(parents=True, exist_ok=True)
    with cache.exclusive(root / f"{name}-{key[:16]}.lock"):
        cached = cache.load_cached(name, key, build_dir)  # another process may have built it
        if cached is not None:
            return cached
        if build_dir.exists():
            logger.debug("removing partial build %s", build_dir)
            shutil.rmtree(build_dir)
        write_tree(name, sources, build_dir, cflags)

        logger.info("building %s.ko for %s in %s", name, kernel_release, build_dir)
        start = time.monotonic()
        status, log = _run_make(kbuild_dir, build_dir, symvers, timeout, sandboxed=grading)
        duration = time.monotonic() - start
        diagnostics = parse_diagnostics(log, build_dir)
        if status != 0:
            message = _failure_message(diagnostics, log)
            logger.info("build of %s failed after %.2f s: %s", name, duration, message)
            raise BuildError(message, diagnostics, log)
        ko_path = build_dir / f"{name}.ko"
        if not ko_path.is_file() or ko_path.is_symlink():
            raise BuildError(
                f"build failed: make reported success but produced no {name}.ko",
                diagnostics,
                log,
            )
        result = BuildResult(
            name=name,
            ko_path=ko_path,
            build_dir=build_dir,
            diagnostics=diagnostics,
            log=log,
            duration=duration,
            cached=False,
            key=key,
            kernel_release=kernel_release,
        )
        cache.store_result(result)
        logger.info("built %s.ko in %.2f s (%d warnings)", name, duration, len(result.warnings))
        return result
