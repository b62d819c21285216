# SPDX-License-Identifier: MIT
"""``kernelmagic hub install`` and ``kernelmagic hub status``: the course server's commands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from kernelmagic.errors import UsageError
from kernelmagic.hub.layout import DEFAULT_PREFIX, HubLayout
from kernelmagic.hub.settings import LESSON_VERSIONS, SPAWNERS, HubSettings

__all__ = ["add_hub_parser", "run_hub"]

_EPILOG = """examples:
  kernelmagic hub install --instructor ada
  kernelmagic hub install --prefix /srv/km-test --port 8900 --api-token "$TOKEN"
  kernelmagic hub status"""


def add_hub_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hub = sub.add_parser("hub", help="the course server: JupyterHub, one lab VM per learner")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    p = hub_sub.add_parser(
        "install", help="set up (or update) a course server, as root",
        description="Set up a course server: an environment every learner can run, the VM "
        "bundle, the lessons, JupyterHub and its proxy, jupyterhub_config.py and a systemd "
        "unit. Run it again to update; choices not given keep their last value.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--prefix", type=Path, default=None,
                   help=f"put everything here, nothing else on the machine (default "
                   f"{DEFAULT_PREFIX}, with the unit in /etc/systemd/system)")  # fmt: skip
    p.add_argument("--port", type=int, help="the public port (default 8000); the next two "
                   "are the hub's API and the proxy's, on loopback")  # fmt: skip
    p.add_argument("--ip", help="the address learners reach (default 0.0.0.0)")
    p.add_argument("--api-token", metavar="TOKEN",
                   help="the admin service's token (default: $KERNELMAGIC_HUB_API_TOKEN, else "
                   "a new random one; kept in PREFIX/state/api-token)")  # fmt: skip
    p.add_argument("--spawner", choices=SPAWNERS,
                   help="local: a process per learner here, in a cgroup of its own; systemd: "
                   "a unit per learner (the default where systemd runs); slurm: a Slurm job "
                   "per learner")  # fmt: skip
    p.add_argument("--group", help="the Unix group whose members may log in (default kernelmagic)")
    p.add_argument("--instructor", action="append", metavar="USER",
                   help="a user who gets nbgrader's formgrader (repeatable)")
    p.add_argument("--course-id", help="nbgrader's course id (default kernelmagic)")
    p.add_argument("--lessons", choices=LESSON_VERSIONS,
                   help="what learners receive: student versions, without solutions (default), "
                   "or the full lessons with solutions, for self-study")  # fmt: skip
    p.add_argument("--max-vms", type=int, help="lab VMs running at once on this machine")
    p.add_argument("--vms-per-learner", type=int, help="lab VMs one learner may run at once")
    p.add_argument("--idle-timeout", type=int, metavar="S",
                   help="stop a learner's server (and its VMs) after S idle seconds")
    p.add_argument("--mem-limit", help="memory per learner, e.g. 1G")
    p.add_argument("--cpu-limit", type=float, help="CPUs per learner, e.g. 2")
    p.add_argument("--python", type=Path, default=Path("/usr/bin/python3"),
                   help="the Python the environment is made with (learners must be able "
                   "to run it; default /usr/bin/python3)")  # fmt: skip
    p = hub_sub.add_parser("status", help="what runs: the hub, learners' servers, lab VMs")
    p.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX)


SYSTEMD_RUNNING = Path("/run/systemd/system")
#: The token may come from the environment, out of sight of `ps` during the install.
TOKEN_ENV = "KERNELMAGIC_HUB_API_TOKEN"

_OPTIONS = ("ip", "port", "spawner", "group", "course_id", "lessons", "max_vms", "vms_per_learner",
            "idle_timeout", "mem_limit", "cpu_limit")  # fmt: skip


def _settings(args: argparse.Namespace) -> HubSettings:
    """The last install's choices, with the ones given on this command line changed."""
    layout = HubLayout((args.prefix or DEFAULT_PREFIX).absolute())
    settings = HubSettings.load(layout.settings) if layout.settings.is_file() else HubSettings()
    for name in _OPTIONS:
        value = getattr(args, name)
        if value is not None:
            setattr(settings, name, value)
    if args.instructor:
        settings.instructors = sorted(set(args.instructor))
    if args.spawner is None and not layout.settings.is_file() and SYSTEMD_RUNNING.is_dir():
        settings.spawner = "systemd"  # limits through systemd, which owns the cgroups here
    return settings


def run_hub(args: argparse.Namespace) -> int:
    if args.hub_command == "status":
        from kernelmagic.hub.status import read_status

        layout = HubLayout(args.prefix.absolute())
        if not layout.settings.is_file():
            raise UsageError(f"no course server in {layout.prefix}; pass --prefix, or run "
                             "`kernelmagic hub install`")  # fmt: skip
        status = read_status(layout)
        print("\n".join(status.lines()))
        return 0 if status.running else 1
    from kernelmagic.hub.install import install_hub

    def progress(line: str) -> None:
        print(f"hub install: {line}", file=sys.stderr, flush=True)

    token = args.api_token or os.environ.get(TOKEN_ENV) or None
    done = install_hub(_settings(args), args.prefix, api_token=token,
                       python=args.python, progress=progress)  # fmt: skip
    layout, settings = done.layout, done.settings
    if done.config_kept:
        print(f"kept your edited {layout.config}; the new default is beside it (.new)")
    print(f"course server installed in {layout.prefix}: http://{settings.ip}:{settings.port}/ "
          f"(spawner {settings.spawner}; learners log in with their Unix password and must be "
          f"in the group {settings.group})")  # fmt: skip
    if done.systemd_enabled:
        print("it runs now as a systemd service; `kernelmagic hub status` shows it")
    print("run it in the foreground with:")
    print(layout.foreground_command())
    return 0
