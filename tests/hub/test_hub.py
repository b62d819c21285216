# SPDX-License-Identifier: MIT
"""Two learners on one real course server, at the same time: each has a VM of their own.

Real JupyterHub, real PAM logins through the login form, real Unix users, real QEMU: the
cells run through each learner's Jupyter server (kernel REST API and websocket) via the
hub's proxy, exactly as their browser would send them.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kernelmagic.hub.client import CellResult, HubClient, HubClientError
from kernelmagic.hub.layout import LESSONS_FOLDER
from kernelmagic.hub.status import read_status
from tests.hub.conftest import IdleLearner
from tests.hub.harness import CourseServer, Learner, processes_of

HELLO = """%%kmodule hello --load
#include <linux/module.h>
static int __init hello_init(void) { pr_info("{greeting}\\n"); return 0; }
static void __exit hello_exit(void) { }
module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
"""


def _session(client: HubClient, greeting: str, other_home: Path) -> dict[str, CellResult]:
    """What one learner runs: build and load, the kernel log, the module list, a peek."""
    client.start_server()
    kernel = client.start_kernel()
    try:
        return {
            "load": kernel.execute(HELLO.replace("{greeting}", greeting)),
            "dmesg": kernel.execute("%dmesg"),
            "lsmod": kernel.execute("%lsmod"),
            "share": kernel.execute("%vmsh ls /mnt/host"),
            "peek": kernel.execute(
                "import os\n"
                f"for path in ({str(other_home)!r}, {str(other_home / '.cache/kernelmagic')!r}):\n"
                "    try:\n        print(path, os.listdir(path))\n"
                "    except OSError as exc:\n        print(path, type(exc).__name__)\n"
            ),
        }
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def learners(course_server: CourseServer) -> tuple[Learner, Learner]:
    return course_server.add_learner("ada"), course_server.add_learner("bob")


def test_a_wrong_password_is_refused_at_the_login_form(
    course_server: CourseServer, learners: tuple[Learner, Learner], idle_learner: IdleLearner
) -> None:
    """(Asks for ``idle_learner`` first, so the culler's wait runs beside these tests.)"""
    ada = learners[0]
    with pytest.raises(HubClientError, match=r"login of .* refused"):
        HubClient(course_server.url, ada.name).login(ada.password + "x")


def test_two_learners_at_once_each_see_only_their_own_vm(
    course_server: CourseServer, learners: tuple[Learner, Learner]
) -> None:
    ada, bob = learners
    clients = {ada.name: course_server.client(ada), bob.name: course_server.client(bob)}
    greetings = {ada.name: "greetings from ada's VM", bob.name: "bob says hello"}
    homes = {ada.name: bob.home, bob.name: ada.home}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(_session, clients[name], greetings[name], homes[name])
            for name in clients
        }
        runs = {name: f.result(timeout=600) for name, f in futures.items()}

    for learner, other in ((ada, bob), (bob, ada)):
        run = runs[learner.name]
        for cell, result in run.items():
            assert result.ok, (learner.name, cell, result.error, result.text[-2000:])
        assert "hello loaded" in run["load"].text
        assert greetings[learner.name] in run["dmesg"].text
        assert greetings[other.name] not in run["dmesg"].text
        assert "hello" in run["lsmod"].text.split()
        # The 9p share shows this learner's own build folder, nothing else.
        shared = set(run["share"].text.split())
        builds = {p.name for p in (learner.home / ".cache" / "kernelmagic" / "builds").iterdir()}
        assert shared and shared <= builds, (shared, builds)
        # The other learner's home and lab folder are closed to this one.
        peeks = run["peek"].text.strip().splitlines()
        assert len(peeks) == 2 and all(p.endswith("PermissionError") for p in peeks), peeks


def test_qemu_runs_as_the_learner_and_shares_only_their_builds(
    course_server: CourseServer, learners: tuple[Learner, Learner]
) -> None:
    ada, bob = learners
    clients = [course_server.client(ada), course_server.client(bob)]
    kernels = []
    try:
        for client in clients:
            client.start_server()
            kernel = client.start_kernel()
            kernels.append(kernel)
            assert kernel.execute("%vm start").ok
        vms = course_server.lab_vms()
        assert vms.get(ada.name) == 1 and vms.get(bob.name) == 1, vms
        for learner in (ada, bob):
            pids = _qemu_pids_of(learner)
            assert len(pids) == 1, pids
            for pid in pids:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                shares = [a for a in argv if a.startswith(b"local,id=")]
                assert shares and all(str(learner.home).encode() in a for a in shares), shares
                # Inside the learner's cgroup, under their memory and CPU limits.
                cgroups = Path(f"/proc/{pid}/cgroup").read_text()
                assert f"/kernelmagic/{learner.name}\n" in cgroups, cgroups
                # Its runtime folder (sockets, logs) is in the learner's home, closed to others.
                tmp = learner.home / ".cache" / "kernelmagic" / "tmp"
                assert any(tmp.iterdir())
                for private in (tmp, tmp.parent, learner.home):
                    assert stat.S_IMODE(private.stat().st_mode) == 0o700, private
        # The other learner cannot list it, as the operating system decides.
        bobs_tmp = bob.home / ".cache" / "kernelmagic" / "tmp"
        denied = subprocess.run(["runuser", "-u", ada.name, "--", "ls", str(bobs_tmp)],
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        status = read_status(course_server.layout)
        assert status.running and status.vms.get(ada.name) == 1
        assert set(status.servers) >= {ada.name, bob.name}
    finally:
        for kernel in kernels:
            kernel.shutdown()
    for client in clients:
        client.stop_server()
    for learner in (ada, bob):
        assert course_server.wait_no_processes(learner) == []
        tmp = learner.home / ".cache" / "kernelmagic" / "tmp"
        assert list(tmp.iterdir()) == [], "a VM runtime folder was left behind"
    assert ada.name not in course_server.lab_vms() and bob.name not in course_server.lab_vms()


def test_lessons_are_copied_at_first_login_and_never_overwritten(
    course_server: CourseServer, learners: tuple[Learner, Learner]
) -> None:
    ada = learners[0]
    client = course_server.client(ada)
    client.start_server()
    course = ada.home / LESSONS_FOLDER
    lessons = sorted(p.name for p in course_server.layout.lessons.glob("*.ipynb"))
    assert sorted(p.name for p in course.glob("*.ipynb")) == lessons
    assert stat.S_IMODE(course.stat().st_mode) == 0o700
    # Student versions: no solution, no hidden check, no instructor's note.
    for lesson in course.glob("*.ipynb"):
        text = lesson.read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, lesson
        assert "instructor-only" not in text, lesson
    # The full lessons (for the instructor's nbgrader course) are closed to learners.
    peek = subprocess.run(["runuser", "-u", ada.name, "--", "ls",
                           str(course_server.layout.instructor_lessons)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert peek.returncode != 0 and "Permission denied" in peek.stderr
    # The course's kernel is the only one a learner is offered.
    specs = client.server_api("GET", "/kernelspecs").json()
    assert (specs["default"], set(specs["kernelspecs"])) == ("kernelmagic", {"kernelmagic"})
    # The learner's work survives the next login; a lesson added to the course appears.
    mine = course / lessons[0]
    work = json.loads(mine.read_text())
    work["cells"][0]["source"] = "my own notes"
    mine.write_text(json.dumps(work))
    new_lesson = course_server.layout.lessons / "99_added_later.ipynb"
    new_lesson.write_text((course_server.layout.lessons / lessons[0]).read_text())
    try:
        client.stop_server()
        client.start_server()
        assert json.loads(mine.read_text())["cells"][0]["source"] == "my own notes"
        assert (course / new_lesson.name).is_file()
    finally:
        new_lesson.unlink()
        client.stop_server()


def _qemu_pids_of(learner: Learner) -> list[int]:
    pids = []
    for pid in processes_of(learner.uid):
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if program.endswith(b"qemu-system-x86_64"):
            pids.append(pid)
    return pids


def test_install_again_from_the_command_line_updates_in_place(
    course_server: CourseServer,
) -> None:
    """A second install is quick, keeps the settings, and ends with the foreground command."""
    prefix = str(course_server.layout.prefix)
    done = subprocess.run(
        [sys.executable, "-m", "kernelmagic.cli", "hub", "install", "--prefix", prefix,
         "--port", str(course_server.port), "--api-token", course_server.token],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == course_server.layout.foreground_command()
    assert "environment: up to date" in done.stderr
    assert "bundle" in done.stderr and "up to date" in done.stderr
    status = subprocess.run(
        [sys.executable, "-m", "kernelmagic.cli", "hub", "status", "--prefix", prefix],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    assert "hub:       running" in status.stdout
    assert f"group {course_server.settings.group}" in status.stdout
