# SPDX-License-Identifier: MIT
"""nbgrader through the hub, as two browsers would do it: release, fetch, submit, collect, grade.

An instructor and a student of the test course server log in through the login form and
start their servers; every nbgrader step then goes through the hub's proxy to the
endpoints the lab's panels call, authenticated by the login's cookies (so the XSRF
check is the browser's too). The instructor's course was made at their first login;
the exchange is the install's; grading runs the submission in a lab VM of the
instructor's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from kernelmagic.hub.client import HubClient
from kernelmagic.hub.grading import NbgraderClient
from tests.hub.harness import CourseServer

ASSIGNMENT = "02_hello_kernel"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def accounts(course_server: CourseServer) -> Iterator[tuple[HubClient, HubClient]]:
    """An instructor (named so by a second install, as an administrator would) and a student,
    both logged in with their servers started; the servers are stopped afterwards."""
    instructor = course_server.add_learner("gi")
    student = course_server.add_learner("gs")
    before = list(course_server.settings.instructors)
    course_server.install(instructors=[*before, instructor.name])
    clients: list[HubClient] = []
    try:
        for learner in (instructor, student):
            client = course_server.client(learner)
            clients.append(client)
            client.start_server()
        yield clients[0], clients[1]
    finally:
        for client in clients:
            client.stop_server()
        course_server.settings.instructors = before
        course_server.settings.save(course_server.layout.settings)


def _nbgrader(client: HubClient) -> NbgraderClient:
    """The browser's view: the hub's cookies, and the server's own once it has set them."""
    return NbgraderClient(client.server_url, client.http, timeout=600)


def test_an_instructor_releases_collects_and_grades_what_a_student_submits(
    course_server: CourseServer, accounts: tuple[HubClient, HubClient]
) -> None:
    instructor, student = accounts
    teacher, learner = _nbgrader(instructor), _nbgrader(student)
    course_id = course_server.settings.course_id
    assert teacher.formgrader_running()
    assert not learner.formgrader_running()
    course = course_server.learners["gi"].home / "course"
    assert (course / "source" / ASSIGNMENT / NOTEBOOK).is_file()

    teacher.generate(ASSIGNMENT)
    teacher.release(ASSIGNMENT)
    outbound = course_server.layout.exchange / course_id / "outbound" / ASSIGNMENT / NOTEBOOK
    assert outbound.is_file() and "BEGIN SOLUTION" not in outbound.read_text()

    assert {(a["assignment_id"], a["status"]) for a in learner.listing(course_id)} == {
        (ASSIGNMENT, "released")
    }
    learner.fetch(course_id, ASSIGNMENT)
    home = course_server.learners["gs"].home
    assert (
        json.loads((home / ASSIGNMENT / NOTEBOOK).read_text())["cells"]
        == (json.loads(outbound.read_text())["cells"])
    )
    listing = learner.submit(course_id, ASSIGNMENT)
    assert any(a["status"] == "submitted" and a["submissions"] for a in listing)

    teacher.collect(ASSIGNMENT)
    assert (course / "submitted" / student.user / ASSIGNMENT / NOTEBOOK).is_file()

    teacher.autograde(ASSIGNMENT, student.user)
    graded = {s["student"]: s for s in teacher.submissions(ASSIGNMENT)}[student.user]
    # the submission is the untouched skeleton: it builds and loads in a lab VM of the
    # instructor's, but never greets, so each graded check cell scores nothing
    assert graded["autograded"] and graded["score"] == 0 < graded["max_score"]
    ran = json.loads((course / "autograded" / student.user / ASSIGNMENT / NOTEBOOK).read_text())
    outputs = {"".join(c["source"]).split("\n")[0]: json.dumps(c.get("outputs", []))
               for c in ran["cells"]}  # fmt: skip
    assert "Hello, world!" in outputs["%insmod hello name={shlex.quote(who)}"]  # the VM's log
    assert "greet loaded" in outputs["%insmod greet"]
    assert sum("checks of greet passed" in text for text in outputs.values()) == 2
    deadline = time.monotonic() + 60  # the grading kernel is gone; its VM follows it down
    while course_server.lab_vms().get(instructor.user) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not course_server.lab_vms().get(instructor.user)
