# SPDX-License-Identifier: MIT
"""The line-JSON reader that the guest agent and the QMP client share."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from kernelmagic.machine.jsonlines import JSONLineReader


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def soon(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def test_objects_in_any_pieces(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    reader = JSONLineReader(ours, peer="test")
    theirs.sendall(b'{"a": 1}\r\n{"b"')
    assert reader.read(soon()) == {"a": 1}
    threading.Timer(0.05, theirs.sendall, args=(b": 2}\n",)).start()
    assert reader.read(soon()) == {"b": 2}


def test_garbage_blank_lines_and_non_objects_are_skipped(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    reader = JSONLineReader(ours, peer="test")
    theirs.sendall(b'\x00noise}{\n\n  \n[1, 2]\n42\n{"ok": true}\n')
    assert reader.read(soon()) == {"ok": True}


def test_reset_marker_drops_what_precedes_it(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    reader = JSONLineReader(ours, peer="test", reset=b"\xff")
    theirs.sendall(b'{"stale": 1}\xff{"return": 7}\n')
    assert reader.read(soon()) == {"return": 7}
    plain = JSONLineReader(theirs, peer="test")  # without the marker, the line is garbage
    ours.sendall(b'{"stale": 1}\xff{"return": 7}\n{"next": 1}\n')
    assert plain.read(soon()) == {"next": 1}


def test_deadline_returns_none(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _theirs = pair
    reader = JSONLineReader(ours, peer="test")
    started = time.monotonic()
    assert reader.read(started + 0.1) is None
    assert 0.1 <= time.monotonic() - started < 2
    assert reader.read(started - 1) is None


def test_end_of_file_raises_eof_error(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    reader = JSONLineReader(ours, peer="the test peer")
    theirs.sendall(b'{"last": 1}\n{"cut')
    theirs.close()
    assert reader.read(soon()) == {"last": 1}
    with pytest.raises(EOFError, match="the test peer closed the connection"):
        reader.read(soon())


def test_between_waits_runs_every_slice_and_may_raise(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, _theirs = pair
    calls: list[float] = []

    def check() -> None:
        calls.append(time.monotonic())
        if len(calls) == 5:
            raise RuntimeError("the kernel died")

    reader = JSONLineReader(ours, peer="test", wait_slice=0.02, between_waits=check)
    with pytest.raises(RuntimeError, match="the kernel died"):
        reader.read(soon(10))
    assert len(calls) == 5 and calls[-1] - calls[0] < 2


def test_a_buffered_line_needs_no_wait(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    calls: list[int] = []
    reader = JSONLineReader(ours, peer="test", between_waits=lambda: calls.append(1))
    theirs.sendall(b'{"a": 1}\n{"b": 2}\n')
    assert reader.read(soon()) == {"a": 1}
    before = len(calls)
    assert reader.read(soon()) == {"b": 2}
    assert len(calls) == before
