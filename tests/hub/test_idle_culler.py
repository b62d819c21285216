# SPDX-License-Identifier: MIT
"""jupyterhub-idle-culler stops a server nobody uses, and the learner's lab VM with it.

The idle learner's server and VM were started by the ``idle_learner`` fixture, which the
first test of test_hub.py asks for, so the culler's wait overlaps those tests.
"""

from __future__ import annotations

import time

from tests.hub.conftest import IDLE_TIMEOUT, IdleLearner
from tests.hub.harness import CourseServer


def test_an_idle_server_is_stopped_with_its_vm(
    culler_server: CourseServer, idle_learner: IdleLearner
) -> None:
    assert "ready" in idle_learner.vm_start, idle_learner.vm_start
    name = idle_learner.learner.name
    # Nothing more from the learner: the culler must stop the server, which stops the VM.
    deadline = idle_learner.left_at + IDLE_TIMEOUT * 4
    while time.monotonic() < deadline:
        if not idle_learner.client.api("GET", f"/users/{name}").json().get("servers"):
            break
        time.sleep(2)
    else:
        raise AssertionError(f"{name}'s server was still running {IDLE_TIMEOUT * 4} s later")
    assert culler_server.wait_no_processes(idle_learner.learner) == []
    assert name not in culler_server.lab_vms()
    assert f"Culling server {name}" in culler_server.log.read_text()
