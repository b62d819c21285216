# SPDX-License-Identifier: MIT
"""Test doubles: a fake qemu-guest-agent that speaks the QGA wire protocol, and the
guest helper ``kernelmagic-modop`` played over a fake guest.

The helper's doubles (end of this file): :func:`modop_output` writes what the helper
prints for an insmod or rmmod; :class:`SpawnByExec` gives any fake guest with an
``exec`` the ``spawn``/``poll`` pair that watched commands use.

:class:`FakeAgentServer` serves one end of a ``socketpair()`` from a thread and hands
the other end to the code under test (``server.client_sock``), exactly as QEMU's
``-chardev socket,fd=N`` would. It mimics what qemu-ga 7.2 does on the wire, as
observed against the real binary:

* a ``0xFF`` byte resets its parser and draws a ``JSON parse error`` reply;
* ``guest-sync-delimited`` answers with ``0xFF`` before the JSON;
* a request's ``"id"`` is echoed in the reply, ``return`` or ``error``;
* ``guest-exec`` answers ``{"pid": N}``; ``guest-exec-status`` answers
  ``{"exited": false}`` until the process is done, then exit code and base64 output
  once, after which the pid is unknown (``Invalid parameter 'pid'``).

Typical use::

    server = FakeAgentServer()
    server.on_exec(lambda argv, input: (0, b"hello\\n", b""), match="echo")
    with server:
        agent = GuestAgent(server.client_sock)
        agent.sync(2)
        assert agent.exec(["echo", "hello"]).stdout == "hello\\n"
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kernelmagic.machine.exec_result import ExecResult

#: What an exec handler returns: ``(exit_code, stdout, stderr)`` (bytes or str), or a
#: dict of ``guest-exec-status`` fields for full control (e.g. ``{"signal": 9}``).
ExecOutcome = tuple[int, bytes | str, bytes | str] | Mapping[str, Any]
ExecHandler = Callable[[list[str], bytes | None], ExecOutcome]
#: A command handler gets the ``arguments`` dict; it returns the ``return`` value or
#: raises :class:`FakeAgentError`.
CommandHandler = Callable[[dict[str, Any]], Any]

DEFAULT_PREAMBLE = (
    b"\x00\x1b[0m\xfe garbage from before the agent listened }{\n"
    b'\xff{"return": 1}\n'  # a stale reply to somebody's earlier guest-sync-delimited
    b'{"return": {}, "id": "stale-id"}\n'
)


class FakeAgentError(Exception):
    """Raise in a handler to make the fake agent answer ``{"error": ...}``."""

    def __init__(self, desc: str, error_class: str = "GenericError") -> None:
        super().__init__(desc)
        self.desc = desc
        self.error_class = error_class


@dataclasses.dataclass
class ExecCall:
    """One ``guest-exec`` the fake received."""

    argv: list[str]
    input: bytes | None
    env: list[str] | None
    pid: int


@dataclasses.dataclass
class _Rule:
    match: Callable[[list[str]], bool]
    handler: ExecHandler
    polls: int
    hang: bool


@dataclasses.dataclass
class _Process:
    call: ExecCall
    final: dict[str, Any]  # the guest-exec-status reply once it has exited
    polls_left: int
    hang: bool


def _matcher(
    match: str | Sequence[str] | Callable[[list[str]], bool] | None,
) -> Callable[[list[str]], bool]:
    if match is None:
        return lambda argv: True
    if callable(match):
        return match
    if isinstance(match, str):
        return lambda argv: bool(argv) and match in (argv[0], os.path.basename(argv[0]))
    prefix = list(match)

    def by_prefix(argv: list[str]) -> bool:
        if len(argv) < len(prefix) or not prefix:
            return False
        head_ok = prefix[0] in (argv[0], os.path.basename(argv[0]))
        return head_ok and argv[1 : len(prefix)] == prefix[1:]

    return by_prefix


def _to_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


class FakeAgentServer:
    """A scriptable qemu-ga on the far end of a socketpair.

    Knobs (all plain attributes, change them any time):

    * ``preamble``: bytes sent as soon as the server starts (garbage, stale replies).
    * ``deaf_for``: seconds after start during which input is dropped, like a serial
      port nobody has opened yet; ``sync`` must retry.
    * ``silent``: stop answering anything (the kernel hung).
    * ``hang_commands``: commands never answered.
    * ``delays``: seconds to stall before answering a command (a slow agent; it blocks
      later requests too, as the real single-threaded agent does).
    * ``echo_ids``: echo request ids like qemu-ga >= 5 (set False for an old agent).
    * ``kill_argv0``: the basename whose exec kills a fake process (``kill -9 PID``).
    """

    def __init__(self, *, preamble: bytes = DEFAULT_PREAMBLE, deaf_for: float = 0.0) -> None:
        self.client_sock, self._sock = socket.socketpair()
        self.preamble = preamble
        self.deaf_for = deaf_for
        self.silent = False
        self.hang_commands: set[str] = set()
        self.delays: dict[str, float] = {}
        self.echo_ids = True
        self.kill_argv0 = "kill"
        self.requests: list[dict[str, Any]] = []
        self.execs: list[ExecCall] = []
        self.garbage: list[bytes] = []
        self._commands: dict[str, CommandHandler] = {}
        self._rules: list[_Rule] = []
        self._processes: dict[int, _Process] = {}
        self._next_pid = 100
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._started_at = 0.0

    # ------------------------------------------------------------------ scripting

    def on(self, command: str, handler: CommandHandler) -> None:
        """Answer ``command`` with ``handler(arguments)`` (overrides the built-ins)."""
        self._commands[command] = handler

    def on_exec(
        self,
        handler: ExecHandler,
        match: str | Sequence[str] | Callable[[list[str]], bool] | None = None,
        *,
        polls: int = 2,
        hang: bool = False,
    ) -> None:
        """Run ``handler(argv, input)`` for matching ``guest-exec`` calls.

        ``match``: None for every argv; a string for argv[0] (full path or basename);
        a sequence for an argv prefix; or a predicate. The newest matching rule wins.
        ``polls``: how many ``guest-exec-status`` calls see ``exited: false`` first.
        ``hang``: the process never exits (until a ``kill`` exec names its pid).
        An argv that matches no rule fails as a missing program does in qemu-ga.
        """
        self._rules.append(_Rule(_matcher(match), handler, polls, hang))

    def exec_calls(self, argv0: str | None = None) -> list[ExecCall]:
        """The exec calls received, optionally only those whose argv[0] (basename) matches."""
        with self._lock:
            calls = list(self.execs)
        if argv0 is None:
            return calls
        return [c for c in calls if argv0 in (c.argv[0], os.path.basename(c.argv[0]))]

    def commands(self) -> list[str]:
        """Names of the commands received, in order."""
        with self._lock:
            return [r.get("execute", "") for r in self.requests]

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeAgentServer:
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._serve, name="fake-qga", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Hang up, as QEMU does when it exits: the client sees end of file."""
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    def stop(self) -> None:
        """Close our end and the client's end, and wait for the thread."""
        self.close()
        if self._thread is not None:
            self._thread.join(5)
        with contextlib.suppress(OSError):
            self.client_sock.close()

    def __enter__(self) -> FakeAgentServer:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def send_raw(self, data: bytes) -> None:
        """Push bytes to the client out of turn (late replies, line noise)."""
        self._sock.sendall(data)

    # ------------------------------------------------------------------ protocol

    def _serve(self) -> None:
        buf = bytearray()
        try:
            if self.preamble:
                self._sock.sendall(self.preamble)
            while not self._stopped.is_set():
                data = self._sock.recv(65536)
                if not data:
                    return
                if time.monotonic() - self._started_at < self.deaf_for:
                    continue
                buf += data
                while True:
                    reset = buf.find(b"\xff")
                    newline = buf.find(b"\n")
                    if reset >= 0 and (newline < 0 or reset < newline):
                        # Like qemu-ga: drop the partial request, complain about the byte.
                        if buf[:reset].strip():
                            self.garbage.append(bytes(buf[:reset]))
                        del buf[: reset + 1]
                        self._reply({"error": _parse_error("stray '\\uFFFD'")})
                        continue
                    if newline < 0:
                        break
                    line = bytes(buf[:newline]).strip()
                    del buf[: newline + 1]
                    if line:
                        self._handle_line(line)
        except OSError:
            return

    def _reply(self, message: dict[str, Any], *, delimited: bool = False) -> None:
        if self.silent:
            return
        data = json.dumps(message).encode() + b"\n"
        self._sock.sendall((b"\xff" + data) if delimited else data)

    def _handle_line(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            self.garbage.append(line)
            self._reply({"error": _parse_error("invalid request")})
            return
        if not isinstance(request, dict) or "execute" not in request:
            self._reply({"error": {"class": "GenericError", "desc": "QMP input lacks 'execute'"}})
            return
        with self._lock:
            self.requests.append(request)
        command = request["execute"]
        if self.silent or command in self.hang_commands:
            return
        delay = self.delays.get(command, 0.0)
        if delay:
            time.sleep(delay)
        reply: dict[str, Any] = {}
        if self.echo_ids and "id" in request:
            reply["id"] = request["id"]
        arguments = request.get("arguments") or {}
        try:
            reply["return"] = self._dispatch(command, arguments)
        except FakeAgentError as exc:
            reply["error"] = {"class": exc.error_class, "desc": exc.desc}
        self._reply(reply, delimited=command == "guest-sync-delimited")

    def _dispatch(self, command: str, arguments: dict[str, Any]) -> Any:
        if command in self._commands:
            return self._commands[command](arguments)
        if command in ("guest-sync", "guest-sync-delimited"):
            return arguments["id"]
        if command == "guest-ping":
            return {}
        if command == "guest-info":
            return {"version": "7.2.0-fake", "supported_commands": []}
        if command == "guest-exec":
            return self._exec(arguments)
        if command == "guest-exec-status":
            return self._exec_status(arguments)
        raise FakeAgentError(f"The command {command} has not been found", "CommandNotFound")

    def _exec(self, arguments: dict[str, Any]) -> dict[str, int]:
        argv = [arguments["path"], *arguments.get("arg", [])]
        data = arguments.get("input-data")
        stdin = base64.b64decode(data) if data is not None else None
        with self._lock:
            pid = self._next_pid
            self._next_pid += 1
            call = ExecCall(argv, stdin, arguments.get("env"), pid)
            self.execs.append(call)
        if os.path.basename(argv[0]) == self.kill_argv0 and argv[1:2] == ["-9"]:
            for target in argv[2:]:
                process = self._processes.get(int(target))
                if process is not None:
                    process.hang = False
                    process.polls_left = 0
                    process.final = {"exited": True, "signal": 9}
            self._processes[pid] = _Process(call, {"exited": True, "exitcode": 0}, 0, False)
            return {"pid": pid}
        for rule in reversed(self._rules):
            if rule.match(argv):
                break
        else:
            raise FakeAgentError(
                "Guest agent command failed, error was 'Failed to execute child process "
                f"\u201c{argv[0]}\u201d (No such file or directory)'"
            )
        outcome = rule.handler(argv, stdin)
        final: dict[str, Any] = {"exited": True}
        if isinstance(outcome, Mapping):
            final.update(outcome)
        else:
            code, out, err = outcome
            final["exitcode"] = code
            if out:
                final["out-data"] = base64.b64encode(_to_bytes(out)).decode()
            final["out-truncated"] = False
            if err:
                final["err-data"] = base64.b64encode(_to_bytes(err)).decode()
                final["err-truncated"] = False
        self._processes[pid] = _Process(call, final, rule.polls, rule.hang)
        return {"pid": pid}

    def _exec_status(self, arguments: dict[str, Any]) -> dict[str, Any]:
        pid = arguments.get("pid")
        process = self._processes.get(pid) if isinstance(pid, int) else None
        if process is None or not isinstance(pid, int):
            raise FakeAgentError("Invalid parameter 'pid'")
        if process.hang or process.polls_left > 0:
            process.polls_left -= 1
            return {"exited": False}
        del self._processes[pid]
        return dict(process.final)


def _parse_error(what: str) -> dict[str, str]:
    return {"class": "GenericError", "desc": f"JSON parse error, {what}"}


# -- the guest helper (vm/modop.c), played over a fake guest --------------------------------


def kmsg_line(level: int, seq: int, seconds: float, message: str, facility: int = 0) -> str:
    """One ``/dev/kmsg`` record as the kernel writes it (escaping as it does)."""
    text = "".join(
        f"\\x{b:02x}" if b < 32 or b >= 127 or b == 0x5C else chr(b) for b in message.encode()
    )
    return f"{facility << 3 | level},{seq},{round(seconds * 1e6)},-;{text}"


def modop_output(
    result: str = "errno 0",
    records: Sequence[tuple[int, float, str]] = (),
    *,
    mark: tuple[int, float, int] = (300, 12.0, 1),
    state: str | None = None,
    holders: Sequence[str] = (),
    refcnt: int | None = None,
    lost: int = 0,
    omitted: int = 0,
) -> str:
    """What ``kernelmagic-modop insmod|rmmod`` prints: ``records`` are (level, time, text)."""
    seq, ts, count = mark
    lines = [f"mark {seq} {round(ts * 1e6) if ts >= 0 else -1} {count}"]
    if state is not None:
        lines.append(f"state {state}")
    if holders:
        lines.append("holders " + " ".join(holders))
    if refcnt is not None:
        lines.append(f"refcnt {refcnt}")
    lines.append(f"result {result}")
    if lost:
        lines.append(f"lost {lost}")
    if omitted:
        lines.append(f"omitted {omitted}")
    lines += [
        "rec " + kmsg_line(level, seq + lost + i, when, text)
        for i, (level, when, text) in enumerate(records)
    ]
    return "\n".join(lines) + "\n"


class SpawnByExec:
    """``spawn``/``poll``/``report_stuck_cpu`` for a fake whose ``exec`` answers at once.

    ``spawn`` runs the command through ``exec`` and ``poll`` hands its result back, so a
    fake guest gets the watched path for free. A command for which ``hangs(argv)`` is
    true never finishes (a stuck init) until :meth:`finish` ends it. ``nmis`` counts
    the calls to ``report_stuck_cpu``.
    """

    def _table(self) -> dict[int, ExecResult | None]:
        if "_spawn_results" not in self.__dict__:
            self._spawn_results: dict[int, ExecResult | None] = {}
            self.spawned: dict[int, list[str]] = {}
            self.nmis = 0
        return self._spawn_results

    def hangs(self, argv: list[str]) -> bool:
        return False

    def spawn(self, argv: Sequence[str]) -> int:
        table = self._table()
        pid = 500 + len(table)
        argv = [str(a) for a in argv]
        self.spawned[pid] = argv
        table[pid] = None if self.hangs(argv) else self.exec(argv)  # type: ignore[attr-defined]
        return pid

    def poll(self, pid: int, timeout: float = 1.0) -> ExecResult | None:
        return self._table().get(pid)

    def report_stuck_cpu(self) -> bool:
        self._table()
        self.nmis += 1
        return False

    def finish(self, pid: int, result: ExecResult) -> None:
        """Let a hanging command end now, with ``result``."""
        self._table()[pid] = result
