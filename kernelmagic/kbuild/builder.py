# SPDX-License-Identifier: MIT
"""Compile a learner's module on the host with the VM kernel's own kbuild tree.

Why the host: kbuild of a small module takes about a second here and about ninety
seconds inside a TCG guest (see DESIGN.md). Why a cache: notebooks are re-run all the
time (nbval, papermill, "Run all"), and an unchanged cell should not pay even that
second. The cache key covers everything that changes the bytes of the ``.ko``: the
sources, the flags, the kernel, the compiler, and the ``Module.symvers`` of any module
whose symbols are used.

Each build lives in its own folder, ``<builds_root>/<name>-<key[:16]>/``, and is built
in place rather than in a temporary folder, so the DWARF inside the ``.ko`` points at
real source files that ``gdb`` can open later when an oops is decoded. ``result.json``
is written last and atomically; its presence is what "cached" means.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernelmagic import paths
from kernelmagic.errors import BuildError, SetupError, UsageError
from kernelmagic.kbuild.diagnostics import Diagnostic, parse_diagnostics

logger = logging.getLogger(__name__)

__all__ = [
    "BuildResult",
    "build_key",
    "build_module",
    "export_sources",
    "kbuild_text",
    "makefile_text",
    "module_name_from_path",
    "read_kernel_release",
]

#: Part of every cache key. Bump it when the generated Kbuild/Makefile, the make
#: invocation or the layout of result.json changes, so old builds are not reused.
FORMAT_VERSION = "kernelmagic-build-3"

#: The kernel keeps module names in ``char name[MODULE_NAME_LEN]`` with
#: ``MODULE_NAME_LEN = 64 - sizeof(unsigned long)``: 55 characters plus the NUL on x86_64.
MAX_NAME_LEN = 55

RESULT_FILE = "result.json"
SETUP_HINT = "run `sudo apt-get install make gcc-12` (or `make setup`)"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# No dots in the stem: kbuild generates <name>.mod.c, <name>.mod.o … beside the sources.
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.[ch]")
# cflags land in a makefile; any other $(…) would be expanded by make on the host, and
# $(shell …) there runs commands - not something a submitted notebook should be able to do.
_CFLAGS_VARS = re.compile(r"\$\((?:src|obj|srctree|objtree)\)")
# One compiler argument: spaces outside quotes end it; the quotes stay part of it, as the
# C preprocessor needs them in -DGREETING="hi" (a string, not the identifier hi).
_CFLAG = r"""(?:[^\s"']|"[^"]*"|'[^']*')+"""
_CFLAGS = re.compile(rf"\s*(?:{_CFLAG}(?:\s+|$))*")
# make cannot cope with these in M= or in KBUILD_EXTRA_SYMBOLS.
_BAD_PATH_CHARS = re.compile(r"[\s:#$%\\]")
# Variables from the caller's environment that would silently change what kbuild does
# (a Jupyter started by `make lab` inherits MAKEFLAGS and MAKELEVEL, for instance).
_SCRUBBED_ENV = {
    "MAKEFLAGS",
    "MFLAGS",
    "GNUMAKEFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKEFILES",
    "ARCH",
    "SUBARCH",
    "CROSS_COMPILE",
    "KCFLAGS",
    "KCPPFLAGS",
    "KAFLAGS",
    "KRUSTFLAGS",
    "LDFLAGS_MODULE",
}

_compiler_ids: dict[str, str] = {}


@dataclass(repr=False)
class BuildResult:
    """A built module: where its ``.ko`` is, and what the compiler said on the way."""

    name: str
    ko_path: Path
    build_dir: Path
    diagnostics: list[Diagnostic]
    log: str
    duration: float
    cached: bool
    key: str
    kernel_release: str

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def __repr__(self) -> str:
        # Short and free of paths and timings, so nbval/papermill outputs stay comparable.
        how = "cached" if self.cached else "built"
        n = len(self.warnings)
        return (
            f"<BuildResult {self.name}.ko for {self.kernel_release}, {how}, "
            f"{n} warning{'' if n == 1 else 's'}>"
        )


def module_name_from_path(path: Path | str) -> str:
    """The module name a file would give: ``hello-world.c`` → ``hello_world``.

    The kernel itself treats ``-`` and ``_`` in module names as the same character and
    reports the underscore form, so that is the one we use everywhere.
    """
    return Path(path).stem.replace("-", "_")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid module name: use letters, digits and underscores, "
            "not starting with a digit (for example hello_world)."
        )
    if len(name) > MAX_NAME_LEN:
        raise UsageError(
            f"module name {name!r} is {len(name)} characters long; "
            f"the kernel allows at most {MAX_NAME_LEN}."
        )


def _c_files(name: str, sources: Mapping[str, str]) -> list[str]:
    """Validate file names and return the .c files in the order kbuild will link them."""
    if not sources:
        raise UsageError(f"module {name!r} has no source files.")
    for filename, text in sources.items():
        if not isinstance(filename, str) or not _FILE_RE.fullmatch(filename):
            raise UsageError(
                f"{filename!r} is not an accepted source file name: use a plain name ending "
                "in .c or .h, made of letters, digits, '_' and '-', without folders or extra "
                "dots (for example util.c or defs.h)."
            )
        if not isinstance(text, str):
            raise UsageError(f"the contents of {filename} must be text (str).")
    c_files = sorted(f for f in sources if f.endswith(".c"))
    if not c_files:
        raise UsageError(f"module {name!r} needs at least one .c file.")
    own = f"{name}.c"
    if own in c_files and len(c_files) > 1:
        raise UsageError(
            f"{own} cannot be combined with other .c files: kbuild links them all into "
            f"{name}.o, which would clash with {own}'s own object; rename {own} "
            f"(for example to {name}_main.c)."
        )
    return c_files


def _check_cflags(cflags: str) -> None:
    if "\n" in cflags or "\r" in cflags:
        raise UsageError("cflags must be a single line.")
    if "$" in _CFLAGS_VARS.sub("", cflags):
        raise UsageError(
            "cflags may use only $(src), $(obj), $(srctree) and $(objtree); other make "
            "expansions would run on the host."
        )
    if not _CFLAGS.fullmatch(cflags):
        raise UsageError("cflags have a quote that is not closed.")


def cflag_words(cflags: str) -> list[str]:
    """The compiler arguments in ``cflags``, exactly as the learner wrote them."""
    _check_cflags(cflags)
    return re.findall(_CFLAG, cflags)


def _make_shell_word(word: str) -> str:
    """Quote a flag for the shell that make runs, leaving ``$(src)`` and friends to make."""
    bare = _CFLAGS_VARS.sub("", word)
    return word if bare and shlex.quote(bare) == bare else shlex.quote(word)


def kbuild_text(name: str, sources: Mapping[str, str], cflags: str = "") -> str:
    """The ``Kbuild`` file for a module, in the form the kernel documentation teaches."""
    _check_name(name)
    c_files = _c_files(name, sources)
    _check_cflags(cflags)
    lines = ["# SPDX-License-Identifier: GPL-2.0", "# Generated by kernelmagic.", ""]
    lines.append(f"obj-m := {name}.o")
    if c_files != [f"{name}.c"]:
        objs = " ".join(f[:-2] + ".o" for f in c_files)
        lines.append(f"{name}-y := {objs}")
    if cflags.strip():
        flags = " ".join(_make_shell_word(w) for w in cflag_words(cflags))
        lines.append(f"ccflags-y := {flags}")
    return "\n".join(lines) + "\n"


def makefile_text() -> str:
    """A standalone Makefile, so an exported module builds on a real machine with ``make``."""
    return (
        "# SPDX-License-Identifier: GPL-2.0\n"
        "# Generated by kernelmagic. Builds the module against the running kernel;\n"
        "# point KDIR at another kernel's build tree to build for that one:\n"
        "#   make KDIR=/usr/src/linux-headers-6.1.0-1-amd64\n"
        "KDIR ?= /lib/modules/$(shell uname -r)/build\n"
        "\n"
        "all:\n"
        "\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n"
        "\n"
        "clean:\n"
        "\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n"
        "\n"
        ".PHONY: all clean\n"
    )


def _write_tree(name: str, sources: Mapping[str, str], dest: Path, cflags: str) -> list[Path]:
    kbuild = kbuild_text(name, sources, cflags)  # validates before anything is written
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for filename in sorted(sources):
        path = dest / filename
        path.write_text(sources[filename], encoding="utf-8")
        written.append(path)
    for filename, text in (("Kbuild", kbuild), ("Makefile", makefile_text())):
        path = dest / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def export_sources(
    name: str, sources: Mapping[str, str], dest: Path, cflags: str = ""
) -> list[Path]:
    """Write the sources with their Kbuild and Makefile into ``dest`` (for ``%kexport``)."""
    return _write_tree(name, sources, Path(dest), cflags)


def read_kernel_release(kbuild_dir: Path) -> str:
    """The ``uname -r`` of the kernel a kbuild tree builds for.

    ``include/generated/utsrelease.h`` comes first because its UTS_RELEASE is what goes
    into the module's vermagic. Debian's ``include/config/kernel.release`` is no good
    here: in linux-headers-6.1.0-56-amd64 it says ``6.1.192``, the upstream version.
    """
    kbuild_dir = Path(kbuild_dir)
    uts = kbuild_dir / "include" / "generated" / "utsrelease.h"
    if uts.is_file():
        m = re.search(r'#define\s+UTS_RELEASE\s+"([^"]+)"', uts.read_text(errors="replace"))
        if m:
            return m[1]
    variables = kbuild_dir / ".kernelvariables"
    if variables.is_file():
        m = re.search(
            r"^\s*(?:override\s+)?KERNELRELEASE\s*:?=\s*(\S+)\s*$",
            variables.read_text(errors="replace"),
            re.MULTILINE,
        )
        if m:
            return m[1]
    release = kbuild_dir / "include" / "config" / "kernel.release"
    if release.is_file() and release.read_text().strip():
        return release.read_text().strip()
    raise SetupError(
        f"cannot tell which kernel the build tree {kbuild_dir} is for; "
        "rebuild the bundle with `kernelmagic bundle` (or `make setup`)."
    )


def _compiler_command(kbuild_dir: Path) -> str:
    """The compiler kbuild will call: Debian's tree pins it (``gcc-12``) in .kernelvariables."""
    variables = kbuild_dir / ".kernelvariables"
    if variables.is_file():
        m = re.search(r"^\s*CC\s*:?=(.*)$", variables.read_text(errors="replace"), re.MULTILINE)
        if m and m[1].split():
            # "$(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12" → gcc-12
            cc = re.sub(r"\$\([^()]*\)", "", m[1].split()[-1])
            if cc:
                return cc
    return "gcc"


def _compiler_identity(cc: str) -> str:
    """First line of ``cc --version``, asked once per process (it costs a few ms)."""
    if cc not in _compiler_ids:
        try:
            out = subprocess.run(
                [cc, "--version"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_make_env(),
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            raise SetupError(
                f"the C compiler {cc} that the kernel build tree needs is missing: {SETUP_HINT}."
            ) from exc
        _compiler_ids[cc] = (out.splitlines() or [cc])[0].strip()
    return _compiler_ids[cc]


def build_key(
    name: str,
    sources: Mapping[str, str],
    *,
    cflags: str = "",
    extra_symvers: Sequence[bytes] = (),
    kernel_release: str,
    compiler: str,
) -> str:
    """The sha256 that names a build: equal inputs give the same ``.ko``, any change a new one.

    Each field is tagged and length-prefixed, so no two different inputs can run together
    into the same byte stream.
    """
    h = hashlib.sha256()

    def feed(tag: str, data: str | bytes) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        h.update(f"{tag}:{len(raw)}:".encode())
        h.update(raw)

    feed("format", FORMAT_VERSION)
    feed("name", name)
    for filename in sorted(sources):
        feed("file", filename)
        feed("text", sources[filename])
    feed("cflags", cflags)
    for blob in extra_symvers:
        feed("symvers", blob)
    feed("release", kernel_release)
    feed("compiler", compiler)
    return h.hexdigest()


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


def _make_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED_ENV and not k.startswith("KBUILD_")
    }
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    env.pop("LANGUAGE", None)
    return env


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock, so two processes never build the same key in one folder."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another build of %s", lock_path.stem)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _result_json(result: BuildResult) -> str:
    return json.dumps(
        {
            "format": FORMAT_VERSION,
            "name": result.name,
            "key": result.key,
            "kernel_release": result.kernel_release,
            "duration": result.duration,
            "diagnostics": [dataclasses.asdict(d) for d in result.diagnostics],
            "log": result.log,
        },
        indent=1,
    )


def _load_cached(name: str, key: str, build_dir: Path) -> BuildResult | None:
    """The stored result if this build is complete and intact, else None (so: rebuild)."""
    try:
        data: dict[str, Any] = json.loads((build_dir / RESULT_FILE).read_text("utf-8"))
        ko_path = build_dir / f"{name}.ko"
        if data.get("format") != FORMAT_VERSION or data.get("key") != key:
            return None
        if not ko_path.is_file():
            return None
        return BuildResult(
            name=name,
            ko_path=ko_path,
            build_dir=build_dir,
            diagnostics=[Diagnostic(**d) for d in data["diagnostics"]],
            log=data["log"],
            duration=float(data["duration"]),
            cached=True,
            key=key,
            kernel_release=data["kernel_release"],
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring damaged build cache in %s: %s", build_dir, exc)
        return None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """Stop make and what it started (cc1, ld): they share the process group we gave make."""
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        if grace is None:
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
            break


def _run_make(
    kbuild_dir: Path, build_dir: Path, symvers: Sequence[Path], timeout: float
) -> tuple[int, str]:
    """Run kbuild and return (exit status, whole log).

    Output goes through a pipe rather than being inherited: Jupyter does not show what a
    child writes straight to file descriptors 1 and 2. stderr shares the pipe so gcc's
    messages stay in order with kbuild's progress lines. make gets its own process group
    so a timeout or a Ctrl-C stops the compiler it started too, not only make.
    """
    if shutil.which("make") is None:
        raise SetupError(f"`make` is not installed: {SETUP_HINT}.")
    # __FILE__ (in WARN_ON reports, BUG lines) names hello.c, not the cache folder.
    argv = ["make", "-C", str(kbuild_dir), f"M={build_dir}", "modules",
            f"KCFLAGS=-fmacro-prefix-map={build_dir}/="]  # fmt: skip
    if symvers:
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(str(p) for p in symvers))
    logger.debug("running %s", argv)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_make_env(),
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise SetupError(f"`make` is not installed: {SETUP_HINT}.") from exc
    with proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            out, _ = proc.communicate()
            raise BuildError(
                f"build timed out after {timeout:g} s", parse_diagnostics(out, build_dir), out
            ) from None
        except BaseException:
            _stop_group(proc)
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

    Raises ``ValueError`` for a bad module or file name, ``BuildError`` when kbuild
    fails (with parsed diagnostics and the whole log), ``SetupError`` when make, the
    compiler or the kbuild tree is missing.
    """
    _check_name(name)
    _c_files(name, sources)
    _check_cflags(cflags)
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
        kernel_release = read_kernel_release(kbuild_dir)
    symvers = _symvers_paths(extra_symbols)
    compiler = _compiler_identity(_compiler_command(kbuild_dir))
    key = build_key(
        name,
        sources,
        cflags=cflags,
        extra_symvers=[p.read_bytes() for p in symvers],
        kernel_release=kernel_release,
        compiler=compiler,
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
    cached = _load_cached(name, key, build_dir)
    if cached is not None:
        logger.debug("cache hit for %s in %s", name, build_dir)
        return cached

    root.mkdir(parents=True, exist_ok=True)
    with _exclusive(root / f"{name}-{key[:16]}.lock"):
        cached = _load_cached(name, key, build_dir)  # another process may have just built it
        if cached is not None:
            return cached
        if build_dir.exists():
            logger.debug("removing partial build %s", build_dir)
            shutil.rmtree(build_dir)
        _write_tree(name, sources, build_dir, cflags)

        logger.info("building %s.ko for %s in %s", name, kernel_release, build_dir)
        start = time.monotonic()
        status, log = _run_make(kbuild_dir, build_dir, symvers, timeout)
        duration = time.monotonic() - start
        diagnostics = parse_diagnostics(log, build_dir)
        if status != 0:
            message = _failure_message(diagnostics, log)
            logger.info("build of %s failed after %.2f s: %s", name, duration, message)
            raise BuildError(message, diagnostics, log)
        ko_path = build_dir / f"{name}.ko"
        if not ko_path.is_file():
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
        _write_atomically(build_dir / RESULT_FILE, _result_json(result))
        logger.info("built %s.ko in %.2f s (%d warnings)", name, duration, len(result.warnings))
        return result
