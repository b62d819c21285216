# SPDX-License-Identifier: MIT
"""Turn a kbuild log into a short list of things the learner should fix.

A failed kbuild prints a wall of text: include chains, macro-expansion notes from deep
inside the kernel headers, three nested ``make: ***`` lines, and sometimes nothing from
the compiler at all because the failure came from ``modpost`` or ``ld``. A learner needs
the one line that names their file and line. This parser keeps what the compiler,
modpost and the linker said, drops the noise, and makes paths relative to the build
folder so ``/…/builds/hello-ab12…/hello.c`` reads ``hello.c`` and can be mapped back to
a notebook cell. The patterns come from real gcc 12 / binutils / modpost output of the
Debian 6.1 kbuild tree (samples in ``tests/data/kbuild/``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["Diagnostic", "parse_diagnostics"]


@dataclass(frozen=True)
class Diagnostic:
    """One message of the build, located as precisely as the tool that said it allows."""

    file: str
    line: int | None
    column: int | None
    severity: str  # "error" | "warning" | "note"
    message: str
    origin: str  # "compiler" | "modpost" | "linker" | "make"

    @property
    def location(self) -> str:
        """``file:line:col`` as far as known, the form editors and gcc users recognise."""
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        # modpost names the module in its own message, so its "file" adds nothing there.
        if self.file and self.origin != "modpost":
            prefix = self.location
        else:
            prefix = {"compiler": "gcc", "linker": "ld"}.get(self.origin, self.origin)
        return f"{prefix}: {self.severity}: {self.message}"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# /x/hello.c:7:9: error: expected ';' before 'return'
# /x/hello.c:2:10: fatal error: linux/nosuchheader.h: No such file or directory
_GCC = re.compile(
    r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+):(?:(?P<col>\d+):)?\s+"
    r"(?P<sev>fatal error|error|warning|note):\s+(?P<msg>.*)$"
)
# gcc-12: error: unrecognized command-line option '-Wbogus'   (bad cflags)
# cc1: error: ...
_DRIVER = re.compile(
    r"^(?:\S*/)?(?:[\w.+-]*-)?(?:gcc|cc|cc1|cc1plus|clang|as)(?:-[\d.]+)?:\s+"
    r"(?P<sev>fatal error|error|warning|note):\s+(?P<msg>.*)$"
)
# ERROR: modpost: "foo" [/x/hello.ko] undefined!
# WARNING: modpost: /x/hello.o: section mismatch in reference: ...
_MODPOST = re.compile(r"^(?P<sev>ERROR|WARNING|FATAL):\s+modpost:\s+(?P<msg>.*)$")
_MODPOST_OBJ = re.compile(r"(?P<path>[^\s\[\]'\"]+\.(?:ko|o))\b")
# ld: /x/b.o: in function `helper':          (context, skipped)
# ld: input file '/x/a.o' is the same as output file
# ld: warning: ...
_LD = re.compile(r"^(?:\S*/)?(?:[\w.+-]*-)?ld(?:\.bfd|\.gold|\.lld)?:\s+(?P<msg>.*)$")
# /x/b.c:2: multiple definition of `helper'; /x/a.o:/x/a.c:2: first defined here
# /x/b.o:b.c:(.text+0x5): undefined reference to `foo'
_LD_LOCATED = re.compile(
    r"^(?P<loc>\S.*?):\s(?P<msg>(?:multiple definition of|undefined reference to)\s.*)$"
)
# make[1]: *** [/…/Makefile.build:255: /x/hello.o] Error 1
# make[1]: *** No rule to make target '/x/nosuch.o', needed by '/x/hello.o'.  Stop.
_MAKE = re.compile(r"^(?:\S*/)?g?make(?:\[\d+\])?:\s+\*\*\*\s+(?P<msg>.*)$")
# /bin/sh: 1: gcc-12: not found
_SHELL = re.compile(r"^(?:\S*/)?(?:ba|da)?sh:\s+(?:line\s+)?\d+:\s+(?P<msg>.*)$")


class _Paths:
    """Shortens paths inside the build folder; remembers the folder in both spellings."""

    def __init__(self, build_dir: Path | str | None) -> None:
        self.prefixes: list[str] = []
        if build_dir is not None:
            given = str(build_dir).rstrip("/")
            resolved = str(Path(given).resolve())
            # make prints M= as we passed it; gcc may print the resolved path.
            for p in (given, resolved):
                if p and p + "/" not in self.prefixes:
                    self.prefixes.append(p + "/")

    def inside(self, path: str) -> bool:
        return any(path.startswith(p) for p in self.prefixes)

    def rel(self, path: str) -> str:
        for p in self.prefixes:
            if path.startswith(p):
                return path[len(p) :]
        return path

    def rel_text(self, text: str) -> str:
        """Shorten every build-folder path inside a free-text message."""
        for p in self.prefixes:
            text = text.replace(p, "")
        return text


def _ld_location(loc: str, paths: _Paths) -> tuple[str, int | None]:
    """Read the ways ld names a place: ``f.c:2``, ``f.o:f.c:2``, ``f.o:f.c:(.text+0x5)``."""
    loc = re.sub(r":\([^)]*\)$", "", loc)  # drop ":(.text+0x5)"
    lineno = None
    m = re.match(r"^(?P<rest>.+?):(?P<line>\d+)$", loc)
    if m:
        loc, lineno = m["rest"], int(m["line"])
    # "/x/a.o:/x/a.c" names the object, then the source: the source is what a learner edits.
    return paths.rel(loc.rsplit(":", 1)[-1]), lineno


def parse_diagnostics(log: str, build_dir: Path | str | None = None) -> list[Diagnostic]:
    """Extract compiler, modpost and linker messages from a kbuild log, in order, de-duplicated.

    Notes that point into the kernel's own headers ("in definition of macro
    'printk_index_wrap'") are dropped when ``build_dir`` is known: they explain the macro
    machinery, not the learner's mistake. ``make: ***`` lines and shell errors are kept
    only when nothing else explains a failure, because on their own they say merely
    *that* something failed.
    """
    paths = _Paths(build_dir)
    found: list[Diagnostic] = []
    fallback: list[Diagnostic] = []

    for raw in log.splitlines():
        line = _ANSI.sub("", raw).rstrip()
        if not line or line[0].isspace():
            # source excerpts ("    7 |  return 0;"), kbuild's "  CC [M]" progress lines,
            # and the "                 from x.h:3," include chain all start indented.
            continue

        m = _GCC.match(line)
        if m:
            sev = "error" if m["sev"] == "fatal error" else m["sev"]
            file = m["file"]
            if sev == "note" and paths.prefixes and not paths.inside(file):
                continue
            found.append(
                Diagnostic(
                    file=paths.rel(file),
                    line=int(m["line"]),
                    column=int(m["col"]) if m["col"] else None,
                    severity=sev,
                    message=paths.rel_text(m["msg"]),
                    origin="compiler",
                )
            )
            continue

        m = _MODPOST.match(line)
        if m:
            msg = m["msg"]
            obj = _MODPOST_OBJ.search(msg)
            file = paths.rel(obj["path"]) if obj else ""
            msg = paths.rel_text(msg)
            if file and msg.startswith(file + ": "):
                # "hello.o: section mismatch in reference: …" - the file is in `file`
                msg = msg[len(file) + 2 :]
            found.append(
                Diagnostic(
                    file=file,
                    line=None,
                    column=None,
                    severity="warning" if m["sev"] == "WARNING" else "error",
                    message=msg,
                    origin="modpost",
                )
            )
            continue

        m = _LD_LOCATED.match(line)
        if m:
            file, lineno = _ld_location(m["loc"], paths)
            found.append(
                Diagnostic(file, lineno, None, "error", paths.rel_text(m["msg"]), "linker")
            )
            continue

        m = _LD.match(line)
        if m:
            msg = m["msg"]
            if msg.endswith(":") and ("in function" in msg or "in section" in msg):
                continue  # context for the next line, which carries the real message
            sev = "error"
            if msg.startswith("warning: "):
                sev, msg = "warning", msg[len("warning: ") :]
            elif msg.startswith("error: "):
                msg = msg[len("error: ") :]
            found.append(Diagnostic("", None, None, sev, paths.rel_text(msg), "linker"))
            continue

        m = _DRIVER.match(line)
        if m:
            sev = "error" if m["sev"] == "fatal error" else m["sev"]
            found.append(Diagnostic("", None, None, sev, paths.rel_text(m["msg"]), "compiler"))
            continue

        m = _SHELL.match(line) or _MAKE.match(line)
        if m:
            fallback.append(Diagnostic("", None, None, "error", paths.rel_text(m["msg"]), "make"))

    if fallback and not any(d.severity == "error" for d in found):
        found.extend(fallback)

    unique = list(dict.fromkeys(found))
    logger.debug("parsed %d diagnostics (%d before de-duplication)", len(unique), len(found))
    return unique
