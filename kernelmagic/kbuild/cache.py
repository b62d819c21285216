# SPDX-License-Identifier: MIT
"""The build cache: a key for every input that changes a ``.ko``, and the stored results.

Notebooks are re-run all the time (nbval, papermill, "Run all"), and an unchanged cell
should not pay even the second a kbuild takes. A build folder is complete when its
``result.json`` exists: that file is written last and atomically, so its presence is
what "cached" means, and a reader needs no lock to trust it. Builders of the same key
take a lock so that only one of them runs make.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kernelmagic.files import write_atomically
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.kbuild.result import BuildResult

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "RESULT_FILE",
    "build_key",
    "exclusive",
    "load_cached",
    "store_result",
]

#: Part of every cache key. Bump it when the generated Kbuild/Makefile, the make
#: invocation or the layout of result.json changes, so old builds are not reused.
FORMAT_VERSION = "kernelmagic-build-3"

RESULT_FILE = "result.json"


def build_key(
    name: str,
    sources: Mapping[str, str],
    *,
    cflags: str = "",
    extra_symvers: Sequence[bytes] = (),
    kernel_release: str,
    compiler: str,
    sandboxed: bool = False,
) -> str:
    """The sha256 that names a build: equal inputs give the same ``.ko``, any change a new one.

    Each field is tagged and length-prefixed, so no two different inputs can run together
    into the same byte stream. A grading build (``sandboxed``) never reuses a build made
    outside the sandbox, which may have read a host file the sandbox hides.
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
    if sandboxed:
        feed("sandbox", "bwrap")
    return h.hexdigest()


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
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


def load_cached(name: str, key: str, build_dir: Path) -> BuildResult | None:
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


def store_result(result: BuildResult) -> None:
    """Write ``result.json`` into the build folder; from then on the build counts as cached."""
    text = json.dumps(
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
    write_atomically(result.build_dir / RESULT_FILE, text)
