# SPDX-License-Identifier: MIT
"""Talk to qemu-guest-agent (QGA) in the lab VM over an already connected stream socket.

The VM layer hands us one end of a ``socketpair()`` whose other end QEMU wires to the
guest's second serial port, where ``qemu-ga`` listens. The channel is a raw byte pipe
with no framing guarantees, so this module owns the hard parts:

* **Synchronisation.** Bytes sent before the agent opens its port are lost or arrive
  garbled, and replies to earlier requests can arrive late. :meth:`GuestAgent.sync`
  sends ``0xFF`` (the agent's parser treats it as a reset) followed by
  ``guest-sync-delimited`` with a fresh random id, and accepts only the reply carrying
  that id (the agent prefixes it with ``0xFF``, which we skip).
* **Matching replies.** Every request carries a fresh ``"id"``; qemu-ga 7.2 echoes it,
  so a late reply to a call that timed out is recognised and dropped. Replies without
  an ``id`` (older agents, or the agent's complaint about garbage it was fed) are
  accepted unless they are JSON parse errors. After a timeout or an interrupted
  exchange the channel is re-synchronised before the next request.
* **Crash awareness.** While waiting we call ``abort_check`` every few tens of ms;
  the VM layer makes it raise :class:`~kernelmagic.errors.KernelCrashed` when the
  console saw a panic or QEMU exited, so a dead kernel never costs a full deadline.

Commands run in the guest take an argv, never a shell string.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from kernelmagic.errors import AgentError, AgentTimeout, GuestCommandError, KernelMagicError
from kernelmagic.machine.exec_result import ExecResult, exec_result
from kernelmagic.machine.jsonlines import JSONLineReader

__all__ = ["GuestAgent"]

log = logging.getLogger(__name__)

#: How often sync() repeats its request while the agent is not yet listening.
SYNC_RESEND_INTERVAL = 0.05
#: Longest single wait on the socket, so ``abort_check`` runs this often.
WAIT_SLICE = 0.05
#: First and longest pause between ``guest-exec-status`` polls. Starting at 1 ms keeps
#: a trivial command (a few ms in the guest) well under 100 ms end to end under TCG.
POLL_FIRST = 0.001
POLL_MAX = 0.05
#: Each poll may take at least this long, even when the exec deadline is nearer, so a
#: status reply already on its way is not mistaken for a dead agent.
MIN_CALL_TIMEOUT = 1.0
#: Time allowed for the best-effort kill after an exec deadline.
KILL_TIMEOUT = 2.0
#: After end of file, how long ``abort_check`` gets to turn it into KernelCrashed.
EOF_GRACE = 1.0

_SYNC_BYTE = b"\xff"


class GuestAgent:
    """A synchronous QGA client; one request/response exchange at a time.

    The agent owns ``sock`` from now on and closes it in :meth:`close`. Calls from
    several threads are serialised by a lock held for each exchange (an
    :meth:`exec` is several exchanges, so other calls can interleave with its polls).
    """

    #: argv prefix used to kill a guest process whose exec ran past its deadline.
    kill_argv: tuple[str, ...] = ("/bin/kill", "-9")

    def __init__(
        self, sock: socket.socket, *, abort_check: Callable[[], None] | None = None
    ) -> None:
        self._sock = sock
        self._abort_check = abort_check
        self._lock = threading.Lock()
        self._reader = JSONLineReader(
            sock,
            peer="the guest agent",
            wait_slice=WAIT_SLICE,
            between_waits=self._check_abort,
            reset=_SYNC_BYTE,  # a delimited sync reply: what precedes it is stale
        )
        self._synced = False
        self._closed = False
        self._eof = False
        self._ids = itertools.count(1)
        self._id_prefix = f"km{random.getrandbits(32):08x}"

    # ------------------------------------------------------------------ public API

    def sync(self, timeout: float) -> None:
        """Wait until the agent answers, discarding anything stale on the channel.

        Used once after boot (the agent may need seconds to start) and automatically
        before the next request whenever an exchange was cut short.
        """
        with self._lock:
            self._sync_locked(time.monotonic() + timeout)

    def call(
        self,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        timeout: float = 10.0,
        *,
        expect_reply: bool = True,
    ) -> Any:
        """Run one QGA command and return its ``"return"`` value.

        Raises :class:`AgentError` with the agent's error class and description when
        it answers ``"error"``, and :class:`AgentTimeout` at the deadline. Commands
        that never answer on success (``guest-shutdown``) need ``expect_reply=False``.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            self._check_open()
            if not self._synced:
                self._sync_locked(deadline)
            request_id = f"{self._id_prefix}-{next(self._ids)}"
            request: dict[str, Any] = {"execute": command, "id": request_id}
            if arguments is not None:
                request["arguments"] = dict(arguments)
            completed = False
            try:
                self._send(json.dumps(request).encode() + b"\n", deadline, command)
                if not expect_reply:
                    # An error reply may still come; resync drops it before the next call.
                    self._synced = False
                    completed = True
                    return None
                while True:
                    reply = self._read_message(deadline)
                    if reply is None:
                        raise AgentTimeout(
                            f"guest agent did not answer {command} within {timeout:.1f} s"
                        )
                    if not self._is_reply_to(reply, request_id):
                        log.debug("dropping stale or unrelated agent reply: %.200r", reply)
                        continue
                    completed = True
                    if "error" in reply:
                        raise _agent_error(command, reply["error"])
                    if "return" not in reply:
                        raise AgentError(f"{command}: malformed agent reply {reply!r:.200}")
                    return reply["return"]
            finally:
                if not completed:
                    # Timed out, crashed or interrupted mid-exchange: a late reply may
                    # still arrive, so the next exchange must start with a fresh sync.
                    self._synced = False

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = False,
    ) -> ExecResult:
        """Run ``argv`` in the guest (no shell) and wait for it, like ``subprocess.run``.

        ``env``, when given, *replaces* the guest process environment (that is what
        ``guest-exec`` does); ``argv[0]`` is still looked up in the agent's own PATH.
        Output is decoded as UTF-8 with replacement characters, because module
        messages are not guaranteed to be valid text. On the deadline the guest
        process is killed (best effort) and :class:`AgentTimeout` is raised;
        ``check=True`` raises :class:`GuestCommandError` on a non-zero status.
        """
        argv = [str(a) for a in argv]
        start = time.monotonic()
        deadline = start + timeout
        pid = self.spawn(argv, input=input, env=env, timeout=max(timeout, MIN_CALL_TIMEOUT))
        try:
            status = self._wait_exec(pid, deadline)
        except AgentTimeout as exc:
            raise AgentTimeout(
                f"{' '.join(argv)} did not finish within {timeout:g} s "
                "(and the guest agent stopped answering)"
            ) from exc
        except KeyboardInterrupt:
            # Ctrl-C in the notebook: do not leave the command running in the guest.
            self._kill_guest_process(pid)
            raise
        if status is None:
            self._kill_guest_process(pid)
            raise AgentTimeout(f"{' '.join(argv)} did not finish within {timeout:g} s")

        result = exec_result(status, time.monotonic() - start)
        log.debug("guest pid %d exited %d in %.1f ms", pid, result.exit_code, result.duration * 1e3)
        if result.truncated:
            log.warning("output of %s was truncated by the guest agent", argv)
        if check and not result.ok:
            raise GuestCommandError(argv, result.exit_code, result.stdout, result.stderr)
        return result

    def spawn(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> int:
        """Start ``argv`` in the guest (no shell) and return its pid at once.

        For callers that watch a command while it runs (deadlines, progress); collect
        it with :meth:`exec_status`. ``env`` as for :meth:`exec`.
        """
        argv = [str(a) for a in argv]
        if not argv:
            raise ValueError("exec needs a non-empty argv")
        arguments: dict[str, Any] = {"path": argv[0], "arg": argv[1:], "capture-output": True}
        if input is not None:
            arguments["input-data"] = base64.b64encode(input).decode("ascii")
        if env is not None:
            arguments["env"] = [f"{key}={value}" for key, value in env.items()]
        started = self.call("guest-exec", arguments, timeout=timeout)
        pid = int(started["pid"])
        log.debug("guest-exec pid %d: %s", pid, argv)
        return pid

    def exec_status(self, pid: int, timeout: float = MIN_CALL_TIMEOUT) -> ExecResult | None:
        """The result of a process :meth:`spawn` started, or None while it runs.

        Once it has returned a result the agent forgets the pid. Raises
        :class:`AgentTimeout` when the agent does not answer within ``timeout``.
        """
        status = self.call("guest-exec-status", {"pid": pid}, timeout=timeout)
        if not status.get("exited"):
            return None
        return exec_result(status, 0.0)

    def close(self) -> None:
        """Close the channel; safe to call twice and from another thread.

        A thread blocked in a call wakes up and gets :class:`AgentError`.
        """
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` or once the other end of the channel went away."""
        return self._closed or self._eof

    def __enter__(self) -> GuestAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _check_open(self) -> None:
        if self._closed:
            raise AgentError("guest agent connection is closed")
        if self._eof:
            raise AgentError("guest agent connection closed")

    def _sync_locked(self, deadline: float) -> None:
        self._check_open()
        self._synced = False
        attempts = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise AgentTimeout(
                    f"guest agent did not answer guest-sync-delimited ({attempts} tries)"
                )
            attempts += 1
            # Below 2**53 so the id survives any JSON implementation unchanged.
            sync_id = random.randrange(1, 2**53)
            request = {
                "execute": "guest-sync-delimited",
                "arguments": {"id": sync_id},
                "id": f"{self._id_prefix}-sync-{sync_id}",
            }
            self._send(_SYNC_BYTE + json.dumps(request).encode() + b"\n", deadline, "sync")
            resend_at = min(now + SYNC_RESEND_INTERVAL, deadline)
            while True:
                reply = self._read_message(resend_at)
                if reply is None:
                    break
                if reply.get("return") == sync_id:
                    self._synced = True
                    log.debug("guest agent synchronised after %d tries", attempts)
                    return
                log.debug("dropping agent reply while syncing: %.200r", reply)

    @staticmethod
    def _is_reply_to(reply: dict[str, Any], request_id: str) -> bool:
        if "id" in reply:
            return bool(reply["id"] == request_id)
        # Without an id, a parse error is the agent complaining about garbage, not answering us.
        error = reply.get("error")
        return not (
            isinstance(error, dict) and str(error.get("desc", "")).startswith("JSON parse error")
        )

    def _send(self, data: bytes, deadline: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AgentTimeout(f"no time left to send {what} to the guest agent")
        try:
            self._sock.settimeout(remaining)
            self._sock.sendall(data)
        except TimeoutError as exc:
            # QEMU stopped reading: the guest is not draining its serial port.
            raise AgentTimeout(f"guest agent channel is blocked (sending {what})") from exc
        except OSError as exc:
            self._connection_lost(exc)

    def _read_message(self, until: float) -> dict[str, Any] | None:
        """Return the next JSON object from the channel, or None when ``until`` passes."""
        try:
            return self._reader.read(until)
        except EOFError:
            self._connection_lost(None)
        except (OSError, ValueError) as exc:  # ValueError: fd closed by close()
            self._connection_lost(exc)

    def _check_abort(self) -> None:
        if self._abort_check is not None:
            self._abort_check()

    def _connection_lost(self, exc: BaseException | None) -> NoReturn:
        """Report EOF, giving ``abort_check`` the chance to say the kernel died.

        QEMU closing the channel is usually the end of a panic, but the agent socket
        can report it before the console recorder has read the panic or QEMU has been
        reaped, so ``abort_check`` gets a short grace period to notice.
        """
        if self._closed:
            raise AgentError("guest agent connection is closed") from exc
        self._eof = True
        if self._abort_check is not None:
            grace_end = time.monotonic() + EOF_GRACE
            while True:
                self._check_abort()
                if time.monotonic() >= grace_end:
                    break
                time.sleep(0.02)
        raise AgentError("guest agent connection closed") from exc

    def _wait_exec(self, pid: int, deadline: float) -> dict[str, Any] | None:
        """Poll until the process exits; None at the deadline."""
        delay = POLL_FIRST
        while True:
            remaining = deadline - time.monotonic()
            status = self.call(
                "guest-exec-status", {"pid": pid}, timeout=max(remaining, MIN_CALL_TIMEOUT)
            )
            if status.get("exited"):
                return dict(status)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._check_abort()
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, POLL_MAX)

    def _kill_guest_process(self, pid: int) -> None:
        try:
            self.exec([*self.kill_argv, str(pid)], timeout=KILL_TIMEOUT)
        except KernelMagicError as exc:
            log.warning("could not kill guest process %d after its deadline: %s", pid, exc)
        else:
            # Collect the killed process, so the agent forgets it.
            with contextlib.suppress(KernelMagicError):
                self.call("guest-exec-status", {"pid": pid}, timeout=MIN_CALL_TIMEOUT)


def _agent_error(command: str, error: Any) -> AgentError:
    if isinstance(error, dict):
        klass = error.get("class", "Error")
        desc = error.get("desc", "")
        return AgentError(f"{command}: {klass}: {desc}")
    return AgentError(f"{command}: {error!r}")
