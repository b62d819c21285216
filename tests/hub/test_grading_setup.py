# SPDX-License-Identifier: MIT
"""nbgrader across two Unix accounts, through the HTTP endpoints the lab's panels call.

No hub: an instructor and a student (real users made with ``useradd``) each run
``jupyter server`` from the hub's environment, set up by :func:`prepare_learner` as a
course server's launcher does, over one shared exchange (mode 1777). The instructor
generates and releases lesson 02, the student lists, fetches and submits it, the
instructor collects it; a student's server has no formgrader and its lab hides the
instructor's panels. Grading itself runs lab VMs and is the hub test's business.

The servers need an environment every user can run (the project's ``.venv`` lives under
``/root``): the test course server's ``PREFIX/venv`` (the session's install), or, to skip
the install while working on this file, ``KERNELMAGIC_HUB_VENV`` naming an environment
with the package, nbgrader and Jupyter installed (not editable).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernelmagic.course.grading.coursedir import CONFIG_NAME, config_text, write_course
from kernelmagic.errors import UsageError
from kernelmagic.hub.grading import (
    INSTRUCTOR_LAB_PLUGINS,
    NbgraderClient,
    prepare_learner,
    system_nbgrader_config,
)

requests = pytest.importorskip("requests")

REPO = Path(__file__).resolve().parents[2]
LESSON = REPO / "notebooks" / "02_hello_kernel.ipynb"
ASSIGNMENT = LESSON.stem
COURSE_ID = "kernelmagic"
HUB_VENV_ENV = "KERNELMAGIC_HUB_VENV"


# -- without other accounts ------------------------------------------------------------------


def test_the_course_can_use_a_shared_exchange(tmp_path: Path) -> None:
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    done = write_course(tmp_path / "course", LESSON, exchange=exchange)
    assert not (tmp_path / "course" / "exchange").exists()
    namespace = _run_config(done.config.read_text(), done.config)
    assert namespace.Exchange.root == str(exchange)
    assert namespace.CourseDirectory.root == str(tmp_path / "course")


def test_without_a_shared_exchange_the_course_keeps_its_own(tmp_path: Path) -> None:
    assert 'os.path.join(here, "exchange")' in config_text(COURSE_ID)
    with pytest.raises(UsageError, match="install -d -m 1777"):
        write_course(tmp_path / "course", LESSON, exchange=tmp_path / "missing")


def test_the_system_config_names_the_exchange_and_the_course(tmp_path: Path) -> None:
    text = system_nbgrader_config(tmp_path / "exchange", "os-2026")
    namespace = _run_config(text, tmp_path / CONFIG_NAME)
    assert namespace.Exchange.root == str(tmp_path / "exchange")
    assert namespace.CourseDirectory.course_id == "os-2026"


def test_an_instructor_gets_the_course_once_and_new_lessons_later(tmp_path: Path) -> None:
    home, lessons, exchange = tmp_path / "home", tmp_path / "lessons", tmp_path / "exchange"
    for folder in (home, lessons, exchange):
        folder.mkdir()
    shutil.copy(LESSON, lessons)
    assert (
        prepare_learner(
            home, instructor=True, course_id=COURSE_ID, exchange=exchange, lessons=lessons
        )
        == []
    )
    source = home / "course" / "source" / ASSIGNMENT / LESSON.name
    pointer = home / ".jupyter" / CONFIG_NAME
    assert source.is_file() and f"c.CourseDirectory.root = {str(home / 'course')!r}" in (
        pointer.read_text()
    )
    source.write_text("the instructor's edit")
    pointer.write_text("# mine\n")
    shutil.copy(REPO / "notebooks" / "03_loading_and_unloading.ipynb", lessons)
    prepare_learner(home, instructor=True, course_id=COURSE_ID, exchange=exchange, lessons=lessons)
    assert source.read_text() == "the instructor's edit" and pointer.read_text() == "# mine\n"
    assert (home / "course" / "source" / "03_loading_and_unloading").is_dir()


def test_a_student_loses_the_instructor_panels_and_keeps_their_own_settings(
    tmp_path: Path,
) -> None:
    page = tmp_path / ".jupyter" / "labconfig" / "page_config.json"
    page.parent.mkdir(parents=True)
    page.write_text(json.dumps({"disabledExtensions": {"their-own": True}, "x": 1}))
    args = prepare_learner(tmp_path, instructor=False, course_id=COURSE_ID, exchange=tmp_path)
    assert "--ServerApp.jpserver_extensions=nbgrader.server_extensions.formgrader=False" in args
    assert not (tmp_path / "course").exists()
    written = json.loads(page.read_text())
    assert written["x"] == 1
    assert set(written["disabledExtensions"]) == {"their-own", *INSTRUCTOR_LAB_PLUGINS}
    # made an instructor later: the panels come back, the rest stays
    prepare_learner(
        tmp_path,
        instructor=True,
        course_id=COURSE_ID,
        exchange=tmp_path,
        lessons=tmp_path / "no-lessons",
    )
    assert json.loads(page.read_text())["disabledExtensions"] == {"their-own": True}


def test_what_it_cannot_set_up_never_stops_the_server_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = tmp_path / ".jupyter" / "labconfig" / "page_config.json"
    page.parent.mkdir(parents=True)
    page.write_text("{not json")
    assert prepare_learner(tmp_path, instructor=False, course_id=COURSE_ID, exchange=tmp_path)
    assert page.read_text() == "{not json"
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    shutil.copy(LESSON, lessons)
    missing = tmp_path / "no-exchange"
    assert (
        prepare_learner(
            tmp_path, instructor=True, course_id=COURSE_ID, exchange=missing, lessons=lessons
        )
        == []
    )
    assert "install -d -m 1777" in caplog.text and "not hidden" in caplog.text


def _run_config(text: str, path: Path) -> object:
    from traitlets.config import Config

    config = Config()
    exec(compile(text, str(path), "exec"), {"get_config": lambda: config, "__file__": str(path)})
    return config


# -- two accounts, two Jupyter servers -------------------------------------------------------


@dataclass
class Server:
    """One user's ``jupyter server`` on loopback, reached with its token."""

    user: str
    home: Path
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    session: requests.Session

    @property
    def nbgrader(self) -> NbgraderClient:
        return NbgraderClient(self.url, self.session)

    def lab_page_config(self) -> dict:
        page = self.session.get(self.url + "lab", timeout=60)
        page.raise_for_status()
        data = re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page.text, re.S)
        assert data, page.text[:500]
        return json.loads(data.group(1))


@pytest.fixture(scope="module")
def venv(request: pytest.FixtureRequest) -> Path:
    """An environment every user can run Jupyter and nbgrader from."""
    if os.geteuid() != 0:
        pytest.skip("needs root: it makes Unix users")
    if os.environ.get(HUB_VENV_ENV):
        found = Path(os.environ[HUB_VENV_ENV])
    else:
        found = request.getfixturevalue("course_server").layout.venv
    if not (found / "bin" / "jupyter-server").exists():
        pytest.fail(f"no Jupyter server in {found} (${HUB_VENV_ENV})")
    return found


@pytest.fixture(scope="module")
def world(venv: Path) -> Iterator[Path]:
    """A world-readable temp folder with the lessons, the exchange and the system config."""
    root = Path(tempfile.mkdtemp(prefix="km-grading-"))
    try:
        root.chmod(0o755)
        (root / "lessons").mkdir(mode=0o755)
        shutil.copy(LESSON, root / "lessons")
        (root / "lessons" / LESSON.name).chmod(0o644)
        (root / "exchange").mkdir()
        (root / "exchange").chmod(0o1777)
        (root / "etc").mkdir(mode=0o755)
        (root / "etc" / CONFIG_NAME).write_text(
            system_nbgrader_config(root / "exchange", COURSE_ID)
        )
        (root / "etc" / CONFIG_NAME).chmod(0o644)
        yield root
    finally:
        shutil.rmtree(root)


@pytest.fixture(scope="module")
def users() -> Iterator[tuple[str, str]]:
    """An instructor and a student, removed with their homes afterwards."""
    tag = secrets.token_hex(3)
    made = []
    try:
        for role in ("inst", "stud"):
            name = f"kmg{role}{tag}"
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
            made.append(name)
        yield made[0], made[1]
    finally:
        for name in made:
            subprocess.run(["userdel", "-r", name], check=False, capture_output=True)


def _as_user(user: str, world: Path, venv: Path, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` in their home, with umask 077 and a clean environment,
    as a course server's launcher runs a learner's server."""
    home = f"/home/{user}"
    env = [
        f"HOME={home}",
        f"USER={user}",
        f"LOGNAME={user}",
        f"PATH={venv / 'bin'}:/usr/bin:/bin",
        f"JUPYTER_CONFIG_PATH={world / 'etc'}",
    ]
    script = 'umask 077 && cd "$HOME" && exec "$@"'
    return ["runuser", "-u", user, "--", "env", "-i", *env, "sh", "-c", script, "sh", *argv]


PREPARE = """
import json, sys
from pathlib import Path
from kernelmagic.hub.grading import prepare_learner
home, instructor, exchange, lessons = sys.argv[1:]
print(json.dumps(prepare_learner(Path(home), instructor=instructor == "1", course_id="{course}",
                                 exchange=Path(exchange), lessons=Path(lessons))))
"""


def _start(user: str, world: Path, venv: Path, *, instructor: bool) -> Server:
    home = Path(f"/home/{user}")
    python = str(venv / "bin" / "python")
    prepare = [
        python,
        "-c",
        PREPARE.replace("{course}", COURSE_ID),
        str(home),
        "1" if instructor else "0",
        str(world / "exchange"),
        str(world / "lessons"),
    ]
    done = subprocess.run(
        _as_user(user, world, venv, prepare), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    extra = json.loads(done.stdout.splitlines()[-1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    server = [
        python,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
        *extra,
    ]
    log = world / f"{user}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _as_user(user, world, venv, server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if session.get(url + "api/status", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.3)
    return Server(user, home, url, process, log, session)


def _stop(server: Server) -> None:
    """Stop the server: its process group (runuser and the server under it)."""
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def servers(world: Path, venv: Path, users: tuple[str, str]) -> Iterator[tuple[Server, Server]]:
    started: list[Server] = []
    try:
        started.append(_start(users[0], world, venv, instructor=True))
        started.append(_start(users[1], world, venv, instructor=False))
        yield started[0], started[1]
    finally:
        for server in started:
            _stop(server)


def test_only_the_instructor_has_a_formgrader(servers: tuple[Server, Server]) -> None:
    instructor, student = servers
    assert instructor.nbgrader.formgrader_running()
    assert not student.nbgrader.formgrader_running()
    assert student.session.get(student.url + "formgraders", timeout=30).status_code == 404
    hidden = set(INSTRUCTOR_LAB_PLUGINS)
    assert hidden <= set(student.lab_page_config()["disabledExtensions"])
    assert not hidden & set(instructor.lab_page_config()["disabledExtensions"])


def test_release_fetch_submit_collect(servers: tuple[Server, Server], world: Path) -> None:
    instructor, student = servers
    teacher, learner = instructor.nbgrader, student.nbgrader
    assert ASSIGNMENT in {a["name"] for a in teacher.assignments()}

    teacher.generate(ASSIGNMENT)
    teacher.release(ASSIGNMENT)
    released = world / "exchange" / COURSE_ID / "outbound" / ASSIGNMENT / LESSON.name
    assert released.is_file()
    released_nb = json.loads(released.read_text())
    assert "BEGIN SOLUTION" not in released.read_text()
    assert [(a["assignment_id"], a["status"]) for a in learner.listing(COURSE_ID)] == [
        (ASSIGNMENT, "released")
    ]

    learner.fetch(COURSE_ID, ASSIGNMENT)
    fetched = student.home / ASSIGNMENT / LESSON.name
    assert json.loads(fetched.read_text())["cells"] == released_nb["cells"]
    listing = learner.submit(COURSE_ID, ASSIGNMENT)
    assert any(a["status"] == "submitted" and a["submissions"] for a in listing)

    teacher.collect(ASSIGNMENT)
    collected = instructor.home / "course" / "submitted" / student.user / ASSIGNMENT
    assert (collected / LESSON.name).is_file()
    assert student.user in {s["student"] for s in teacher.submissions(ASSIGNMENT)}
