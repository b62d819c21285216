# SPDX-License-Identifier: MIT
"""The course server's install choices and the config it writes, without a hub running.

The written ``jupyterhub_config.py`` is loaded by JupyterHub's own config loader, for each
spawner, so a key JupyterHub does not know or a template typo fails here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kernelmagic.cli import main
from kernelmagic.errors import UsageError
from kernelmagic.hub import install
from kernelmagic.hub.layout import HubLayout
from kernelmagic.hub.learner import copy_new_lessons
from kernelmagic.hub.settings import HubSettings, parse_memory

jupyterhub_app = pytest.importorskip("jupyterhub.app")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"spawner": "docker"}, "--spawner must be one of local, systemd, slurm"),
        ({"port": 0}, "--port 0 is not a port"),
        ({"max_vms": 0}, "--max-vms must be at least 1"),
        ({"idle_timeout": 3}, "--idle-timeout must be at least 10"),
        ({"mem_limit": "lots"}, "memory limit 'lots' is not understood"),
        ({"cpu_limit": 0}, "--cpu-limit must be above 0"),
        ({"lessons": "answers"}, "--lessons must be student or full"),
        ({"instructors": ["Ada Lovelace"]}, "is not a Unix user name"),
    ],
)
def test_a_choice_that_cannot_work_is_one_clear_line(changes: dict, message: str) -> None:
    settings = HubSettings(**changes)
    with pytest.raises(UsageError, match=message):
        settings.check()


def test_memory_notation() -> None:
    assert parse_memory("768M") == 768 << 20
    assert parse_memory("2g") == 2 << 30
    assert parse_memory("4096") == 4096


def test_settings_survive_a_round_trip(tmp_path: Path) -> None:
    settings = HubSettings(port=8123, instructors=["ada"], spawner="slurm")
    settings.save(tmp_path / "hub.json")
    assert HubSettings.load(tmp_path / "hub.json") == settings


def test_a_prefix_other_users_cannot_enter_is_refused(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(UsageError, match="other users cannot enter"):
        install._check_reachable(closed / "prefix", "the prefix")


@pytest.mark.skipif(os.geteuid() != 0, reason="chowns a folder to another user")
def test_a_prefix_in_a_folder_someone_else_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(UsageError, match="is not root's alone"):
        install._check_root_owned(theirs / "prefix")
    writable = tmp_path / "open"
    writable.mkdir()
    writable.chmod(0o777)
    with pytest.raises(UsageError, match="is not root's alone"):
        install._check_root_owned(writable / "prefix")
    install._check_root_owned(tmp_path)  # root's, 0755 or so: fine


def test_bad_options_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hub", "install", "--prefix", "/nonexistent/x", "--max-vms", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["kernelmagic: --max-vms must be at least 1, not 0"]
    assert main(["hub", "status", "--prefix", "/nonexistent/x"]) == 2
    assert "no course server in /nonexistent/x" in capsys.readouterr().err


def _load_config(tmp_path: Path, settings: HubSettings) -> object:
    """Write the config as the install does, then load it with JupyterHub."""
    layout = HubLayout(tmp_path / "prefix")
    layout.state.mkdir(parents=True)
    layout.api_token.write_text("t0ken\n")
    install._write_config(layout, settings)
    app = jupyterhub_app.JupyterHub()
    app.load_config_file(str(layout.config))
    return app.config


@pytest.mark.parametrize("spawner", ["local", "systemd", "slurm"])
def test_the_config_loads_in_jupyterhub_for_each_spawner(tmp_path: Path, spawner: str) -> None:
    settings = HubSettings(port=8600, spawner=spawner, idle_timeout=600, vms_per_learner=3)
    config = _load_config(tmp_path, settings)
    hub = config.JupyterHub
    assert hub.port == 8600 and hub.hub_port == 8601
    assert config.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:8602"
    expected = {
        "local": "kernelmagic.hub.spawner.LearnerSpawner",
        "systemd": "systemdspawner.SystemdSpawner",
        "slurm": "batchspawner.SlurmSpawner",
    }[spawner]
    assert hub.spawner_class in (expected, expected.rsplit(".", 1)[-1]) or (
        getattr(hub.spawner_class, "__name__", "") == expected.rsplit(".", 1)[-1]
    )
    env = config.Spawner.environment
    assert env["KERNELMAGIC_BUNDLE_DIR"] == str(tmp_path / "prefix" / "bundle")
    assert env["JUPYTER_CONFIG_PATH"] == str(tmp_path / "prefix" / "etc" / "jupyter")
    # One machine's cap on VMs means nothing to jobs on a cluster's nodes.
    assert ("KERNELMAGIC_VM_SLOTS" in env) == (spawner != "slurm")
    assert env["KERNELMAGIC_VMS_PER_LEARNER"] == "3"
    admin, culler = hub.services
    assert admin["api_token"] == "t0ken"
    assert "--timeout=600" in culler["command"]
    roles = {r["name"]: r for r in hub.load_roles}
    assert set(roles["kernelmagic-admin"]["scopes"]) == {
        "admin:users", "admin:servers", "access:servers"
    }  # fmt: skip
    assert config.Authenticator.allowed_groups == {"kernelmagic"}
    assert config.Authenticator.username_pattern == r"^[a-z_][a-z0-9_-]{0,31}$"


def test_an_edited_config_is_kept_and_the_new_one_written_beside_it(tmp_path: Path) -> None:
    layout = HubLayout(tmp_path / "prefix")
    assert install._write_config(layout, HubSettings()) is False
    assert install._write_config(layout, HubSettings(port=9000)) is False  # ours: replaced
    layout.config.write_text(layout.config.read_text() + "\nc.Spawner.mem_limit = '3G'\n")
    assert install._write_config(layout, HubSettings(port=9100)) is True
    assert "c.Spawner.mem_limit = '3G'" in layout.config.read_text()
    assert layout.config.with_name("jupyterhub_config.py.new").is_file()
    assert json.loads(layout.settings.read_text())["port"] == 9100


def test_lessons_are_added_never_replaced(tmp_path: Path) -> None:
    lessons, mine = tmp_path / "lessons", tmp_path / "home" / "course"
    lessons.mkdir()
    (lessons / "00_a.ipynb").write_text("course a")
    (lessons / "01_b.ipynb").write_text("course b")
    mine.parent.mkdir()
    assert copy_new_lessons(lessons, mine) == ["00_a.ipynb", "01_b.ipynb"]
    (mine / "00_a.ipynb").write_text("my work")
    (mine / "01_b.ipynb").unlink()  # a learner who deleted a lesson gets it back
    (lessons / "02_c.ipynb").write_text("course c")
    assert copy_new_lessons(lessons, mine) == ["01_b.ipynb", "02_c.ipynb"]
    assert (mine / "00_a.ipynb").read_text() == "my work"
    assert (mine / "02_c.ipynb").stat().st_mode & 0o077 == 0
