# SPDX-License-Identifier: MIT
"""Newline-delimited JSON from a stream socket, read against a deadline.

Both channels on which we speak JSON with QEMU, the guest agent (QGA) and the monitor
(QMP), send one JSON object per line, and the bytes arrive in whatever pieces the
socket delivers. :class:`JSONLineReader` is the one reader both use.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import time
from collections.abc import Callable
from typing import Any

__all__ = ["JSONLineReader"]

log = logging.getLogger(__name__)

_READ_SIZE = 65536


class JSONLineReader:
    """Read JSON objects, one per line, from ``sock`` (which stays the caller's).

    ``peer`` names the other end in log messages. ``between_waits``, when given, runs
    before each wait on the socket, at most ``wait_slice`` seconds apart (the agent
    checks there whether the kernel died); without ``wait_slice`` a wait lasts until
    data arrives or the deadline passes. ``reset`` is a marker after which a line
    starts afresh: QGA puts ``0xFF`` before the reply to a delimited sync, and what
    precedes it on that line is stale. Lines that are not a JSON object are garbage
    on a serial line: they are logged and skipped.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        peer: str,
        wait_slice: float | None = None,
        between_waits: Callable[[], None] | None = None,
        reset: bytes = b"",
    ) -> None:
        self._sock = sock
        self._peer = peer
        self._wait_slice = wait_slice
        self._between_waits = between_waits
        self._reset = reset
        self._buf = bytearray()

    def read(self, until: float) -> dict[str, Any] | None:
        """The next JSON object, or None once ``until`` (a ``time.monotonic()``) passes.

        Raises EOFError when the other end closed the channel, and OSError (or
        ValueError, for a socket closed under us) when reading failed.
        """
        while True:
            line = self._next_line(until)
            if line is None:
                return None
            if self._reset:
                cut = line.rfind(self._reset)
                if cut >= 0:
                    line = line[cut + len(self._reset) :]
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                log.debug("skipping garbage from %s: %.200r", self._peer, bytes(line))
                continue
            if isinstance(message, dict):
                return message
            log.debug("skipping non-object from %s: %.200r", self._peer, message)

    def _next_line(self, until: float) -> bytearray | None:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = self._buf[:end]
                del self._buf[: end + 1]
                return line
            remaining = until - time.monotonic()
            if remaining <= 0:
                return None
            if self._between_waits is not None:
                self._between_waits()
            wait = remaining if self._wait_slice is None else min(remaining, self._wait_slice)
            readable, _, _ = select.select([self._sock], [], [], wait)
            if not readable:
                continue
            chunk = self._sock.recv(_READ_SIZE)
            if not chunk:
                raise EOFError(f"{self._peer} closed the connection")
            self._buf += chunk
