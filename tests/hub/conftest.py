# SPDX-License-Identifier: MIT
"""One real course server for the hub tests, installed once and removed at the end."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kernelmagic.hub.client import HubClient
from tests.hub.harness import CourseServer, Learner

#: Short enough for the idle culler to stop a server during the run, long enough that a
#: server in use between two cells of a test is never taken for idle.
IDLE_TIMEOUT = 45


@dataclass
class IdleLearner:
    """A learner who started a VM and then did nothing: the culler's case."""

    learner: Learner
    client: HubClient
    left_at: float
    vm_start: str


@pytest.fixture(scope="session")
def course_server(bundle: object) -> Iterator[CourseServer]:
    """Installed into a temporary prefix (the bundle fixture makes sure the lab has one)."""
    if os.geteuid() != 0:
        pytest.skip("the course server tests create Unix users: they run as root (as in CI)")
    server = CourseServer()
    try:
        server.install(idle_timeout=IDLE_TIMEOUT)
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def idle_learner(course_server: CourseServer) -> IdleLearner:
    """Started before the other hub tests (see test_hub.py), so the wait overlaps them."""
    learner = course_server.add_learner("idle")
    client = course_server.client(learner)
    client.start_server()
    kernel = client.start_kernel()
    started = kernel.execute("%vm start")
    return IdleLearner(learner, client, time.monotonic(), started.text if started.ok else
                       f"{started.error}\n{started.text}")  # fmt: skip
