# SPDX-License-Identifier: MIT
"""What a guest command gave back: :class:`ExecResult`, made from QGA's exec status.

Apart from the agent because every layer above reads results (the guest operations,
the views, the fakes in the tests) without needing the agent's protocol.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["ExecResult", "exec_result"]

log = logging.getLogger(__name__)


class _ExecTriple(NamedTuple):
    exit_code: int
    stdout: str
    stderr: str


class ExecResult(_ExecTriple):
    """Outcome of a guest command: a 3-tuple ``(exit_code, stdout, stderr)``.

    Exactly three tuple fields, so ``code, out, err = agent.exec(...)`` works and a
    result compares equal to a plain tuple in tests. The extras ride along as
    attributes (they are not part of the tuple and do not affect equality):

    * ``signal``: the signal that killed the process, else ``None``. ``exit_code``
      is then ``128 + signal``, as a shell's ``$?`` would show it.
    * ``duration``: seconds from sending ``guest-exec`` to seeing the exit.
    * ``truncated``: the agent cut stdout or stderr (it keeps at most 16 MiB).
    """

    signal: int | None = None
    duration: float = 0.0
    truncated: bool = False

    def __new__(
        cls,
        exit_code: int,
        stdout: str = "",
        stderr: str = "",
        *,
        signal: int | None = None,
        duration: float = 0.0,
        truncated: bool = False,
    ) -> ExecResult:
        self = super().__new__(cls, exit_code, stdout, stderr)
        self.signal = signal
        self.duration = duration
        self.truncated = truncated
        return self

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0 (and was not killed)."""
        return self.exit_code == 0 and self.signal is None

    def __repr__(self) -> str:
        extra = f", signal={self.signal}" if self.signal is not None else ""
        return (
            f"ExecResult(exit_code={self.exit_code}, stdout={self.stdout!r}, "
            f"stderr={self.stderr!r}{extra})"
        )


def _decode(data: Any) -> str:
    if not data:
        return ""
    try:
        raw = base64.b64decode(data)
    except (binascii.Error, ValueError, TypeError):
        log.warning("guest agent sent undecodable base64 output")
        return ""
    return raw.decode("utf-8", errors="replace")


def exec_result(status: Mapping[str, Any], duration: float) -> ExecResult:
    """The result a finished ``guest-exec-status`` reply describes (output base64-decoded)."""
    signal = status.get("signal")
    if status.get("exitcode") is not None:
        exit_code = int(status["exitcode"])
    elif signal is not None:
        exit_code = 128 + int(signal)
    else:
        exit_code = -1
    return ExecResult(
        exit_code,
        _decode(status.get("out-data")),
        _decode(status.get("err-data")),
        signal=int(signal) if signal is not None else None,
        duration=duration,
        truncated=bool(status.get("out-truncated") or status.get("err-truncated")),
    )
