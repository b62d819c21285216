# SPDX-License-Identifier: MIT
"""A minimal QMP client: enough to quit QEMU cleanly and ask for its status.

QMP runs over one end of a socketpair whose other end QEMU received at start, so
there is no socket file to race for.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

from kernelmagic.errors import VMError
from kernelmagic.machine.jsonlines import JSONLineReader

__all__ = ["QMPClient"]


class QMPClient:
    """Synchronous QMP: one command at a time, events skipped. Owns ``sock``."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = JSONLineReader(sock, peer="QEMU's monitor")
        self._lock = threading.Lock()
        self._negotiated = False

    def _read_message(self, deadline: float) -> dict[str, Any]:
        try:
            message = self._reader.read(deadline)
        except EOFError as exc:
            raise VMError("QEMU's monitor closed the connection") from exc
        except (OSError, ValueError) as exc:  # ValueError: fd closed by close()
            raise VMError(f"QEMU's monitor connection failed: {exc}") from exc
        if message is None:
            raise VMError("QEMU's monitor did not answer in time")
        return message

    def execute(self, command: str, arguments: dict[str, Any] | None = None,
                timeout: float = 5.0) -> Any:  # fmt: skip
        """Run one QMP command (negotiating first if needed); its ``return`` value.

        Raises VMError with QEMU's description when it answers an error, and at the
        deadline.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            if not self._negotiated:
                greeting = self._read_message(deadline)
                if "QMP" not in greeting:
                    raise VMError(f"unexpected QMP greeting: {greeting}")
                self._negotiated = True
                self._send_and_wait("qmp_capabilities", None, deadline)
            return self._send_and_wait(command, arguments, deadline)

    def _send_and_wait(self, command: str, arguments: dict[str, Any] | None,
                       deadline: float) -> Any:  # fmt: skip
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except TimeoutError as exc:
            raise VMError(f"QEMU's monitor does not read its commands ({command})") from exc
        except OSError as exc:
            raise VMError(f"QEMU's monitor connection failed: {exc}") from exc
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                continue
            if "error" in message:
                raise VMError(f"QMP {command}: {message['error'].get('desc', message)}")
            return message.get("return")

    def close(self) -> None:
        """Close the channel; safe to call twice."""
        with contextlib.suppress(OSError):
            self._sock.close()
