# SPDX-License-Identifier: MIT
"""One real course server for the hub tests, installed once and removed at the end."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kernelmagic.hub.client import HubClient
from tests.hub.harness import CourseServer, Learner

#: The culler server's idle timeout: short enough for a cull during the run.
IDLE_TIMEOUT = 45


@dataclass
class IdleLearner:
    """A learner who started a VM and then did nothing: the culler's case."""

    learner: Learner
    client: HubClient
    left_at: float
    vm_start: str


@contextlib.contextmanager
def running_server(**settings: object) -> Iterator[CourseServer]:
    """A course server installed and started for some tests; everything removed after."""
    server = None
    try:
        server = CourseServer(**settings)  # type: ignore[arg-type]
        yield server
    finally:
        if server is not None:
            server.remove()


@pytest.fixture(scope="session")
def course_server(bundle: object) -> Iterator[CourseServer]:
    """Installed into a temporary prefix (the bundle fixture makes sure the lab has one)."""
    if os.geteuid() != 0:
        pytest.skip("the course server tests create Unix users: they run as root (as in CI)")
    with running_server() as server:
        server.install()
        server.start()
        yield server


@pytest.fixture(scope="session")
def culler_server(course_server: CourseServer) -> Iterator[CourseServer]:
    """A second server whose culler stops idle servers within a minute; its own, so no
    other test's server is taken for idle between two cells."""
    with running_server(tag="c", share_environment_of=course_server) as server:
        server.install(idle_timeout=IDLE_TIMEOUT)
        server.start()
        yield server


@pytest.fixture(scope="session")
def idle_learner(culler_server: CourseServer) -> IdleLearner:
    """Started before the other hub tests (see test_hub.py), so the wait overlaps them."""
    learner = culler_server.add_learner("idle")
    client = culler_server.client(learner)
    client.start_server()
    kernel = client.start_kernel()
    started = kernel.execute("%vm start")
    return IdleLearner(learner, client, time.monotonic(), started.text if started.ok else
                       f"{started.error}\n{started.text}")  # fmt: skip
