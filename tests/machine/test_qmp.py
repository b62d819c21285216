# SPDX-License-Identifier: MIT
"""QMPClient against a fake QEMU monitor on the far end of a socketpair."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kernelmagic.errors import VMError
from kernelmagic.machine.qmp import QMPClient

GREETING = {
    "QMP": {
        "version": {"qemu": {"micro": 19, "minor": 2, "major": 7}, "package": ""},
        "capabilities": ["oob"],
    }
}
EVENT = {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {}}

#: Given a request, the messages to send back (already encoded, so tests can split them).
Responder = Callable[[dict[str, Any]], list[bytes]]


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\r\n"  # QEMU ends its lines with CRLF


class FakeMonitor:
    """Speaks QMP like QEMU: greeting, capabilities negotiation, replies in order."""

    def __init__(self, responder: Responder, greeting: bytes = line(GREETING)) -> None:
        self.client_sock, self._sock = socket.socketpair()
        self.responder = responder
        self.greeting = greeting
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            with self._sock.makefile("rb") as reader:
                self._sock.sendall(self.greeting)
                for raw in reader:
                    self._answer(json.loads(raw))
        except OSError:
            return  # the client hung up: as QEMU would, just stop

    def _answer(self, request: dict[str, Any]) -> None:
        self.requests.append(request)
        if request["execute"] == "qmp_capabilities":
            replies = [line({"return": {}})]
        else:
            replies = self.responder(request)
        for reply in replies:
            self._sock.sendall(reply)
            time.sleep(0.001)  # let the pieces arrive as separate reads

    def start(self) -> FakeMonitor:
        self._thread.start()
        return self

    def hang_up(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.client_sock.close()
        self._thread.join(2)
        self._sock.close()


@pytest.fixture
def monitor_factory() -> Iterator[Callable[..., FakeMonitor]]:
    made: list[FakeMonitor] = []

    def make(responder: Responder, **kwargs: Any) -> FakeMonitor:
        monitor = FakeMonitor(responder, **kwargs).start()
        made.append(monitor)
        return monitor

    yield make
    for monitor in made:
        monitor.stop()


def status_reply(request: dict[str, Any]) -> list[bytes]:
    if request["execute"] == "query-status":
        # An event first, then the reply split across two writes.
        reply = line({"return": {"status": "running", "running": True}})
        return [line(EVENT), reply[:10], reply[10:]]
    if request["execute"] == "echo":
        return [line({"return": request.get("arguments")})]
    if request["execute"] == "quit":
        return [line({"return": {}}), line({"event": "SHUTDOWN", "data": {"guest": False}})]
    error = {
        "class": "CommandNotFound",
        "desc": f"The command {request['execute']} has not been found",
    }
    return [line({"error": error})]


def test_negotiates_once_and_skips_events(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply)
    client = QMPClient(monitor.client_sock)
    assert client.execute("query-status") == {"status": "running", "running": True}
    assert client.execute("query-status")["running"] is True
    assert [r["execute"] for r in monitor.requests] == [
        "qmp_capabilities",
        "query-status",
        "query-status",
    ]
    assert "arguments" not in monitor.requests[1]


def test_arguments_are_sent(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply)
    client = QMPClient(monitor.client_sock)
    assert client.execute("echo", {"device": "virtio0", "n": 3}) == {"device": "virtio0", "n": 3}
    assert monitor.requests[-1] == {"execute": "echo", "arguments": {"device": "virtio0", "n": 3}}


def test_quit(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply)
    assert QMPClient(monitor.client_sock).execute("quit") == {}


def test_error_reply(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply)
    client = QMPClient(monitor.client_sock)
    with pytest.raises(VMError, match="QMP nope: The command nope has not been found"):
        client.execute("nope")
    assert client.execute("query-status")["status"] == "running"  # still in step


def test_bad_greeting(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply, greeting=line({"hello": "world"}))
    with pytest.raises(VMError, match="unexpected QMP greeting"):
        QMPClient(monitor.client_sock).execute("query-status")


def test_silent_monitor_times_out(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(lambda request: [])
    client = QMPClient(monitor.client_sock)
    started = time.monotonic()
    with pytest.raises(VMError, match="did not answer in time"):
        client.execute("query-status", timeout=0.2)
    assert time.monotonic() - started < 1.5


def test_no_greeting_times_out(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply, greeting=b"")
    with pytest.raises(VMError, match="did not answer in time"):
        QMPClient(monitor.client_sock).execute("query-status", timeout=0.1)


def test_monitor_hangs_up(monitor_factory: Callable[..., FakeMonitor]) -> None:
    closed = threading.Event()
    monitor: FakeMonitor

    def hang_up(request: dict[str, Any]) -> list[bytes]:
        monitor.hang_up()
        closed.set()
        return []

    monitor = monitor_factory(hang_up)
    client = QMPClient(monitor.client_sock)
    with pytest.raises(VMError, match="closed the connection"):
        client.execute("quit", timeout=2)
    assert closed.is_set()


def test_close_twice(monitor_factory: Callable[..., FakeMonitor]) -> None:
    monitor = monitor_factory(status_reply)
    client = QMPClient(monitor.client_sock)
    client.close()
    client.close()
    assert monitor.client_sock.fileno() == -1
