# SPDX-License-Identifier: MIT
"""``kernelmagic hub status``: is the hub up, who has a server, how many lab VMs run.

It asks the hub's REST API with the install's admin token, and counts lab VMs from the
processes on this machine (a lab VM's QEMU exports the lab's 9p share) and the VM slots
they hold, so it works while the hub is down too.
"""

from __future__ import annotations

import json
import pwd
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.hub.layout import HubLayout
from kernelmagic.hub.settings import HubSettings
from kernelmagic.machine.share import SHARE_TAG
from kernelmagic.procs import pid_alive

__all__ = ["HubStatus", "lab_vms", "read_status"]

_SHARE_OPTION = f"local,id={SHARE_TAG},".encode()


@dataclass
class HubStatus:
    layout: HubLayout
    settings: HubSettings
    hub_pid: int | None
    hub_version: str | None
    servers: dict[str, str] = field(default_factory=dict)  # user -> "ready" / "pending"
    vms: dict[str, int] = field(default_factory=dict)  # user -> running QEMU processes
    slots_busy: int | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.hub_version is not None

    def lines(self) -> list[str]:
        s = self.settings
        up = f"running (pid {self.hub_pid}), JupyterHub {self.hub_version}" if self.running else (
            f"not answering on port {s.port}" + (f": {self.error}" if self.error else "")
        )
        total_vms = sum(self.vms.values())
        per_user = ", ".join(f"{u} {n}" for u, n in sorted(self.vms.items()))
        out = [
            f"hub:       {up}",
            f"address:   http://{s.ip}:{s.port}/  (spawner {s.spawner}, group {s.group})",
            f"prefix:    {self.layout.prefix}",
            f"servers:   {len(self.servers)}"
            + (": " + ", ".join(f"{u} ({st})" for u, st in sorted(self.servers.items()))
               if self.servers else ""),
            f"lab VMs:   {total_vms} running (cap {s.max_vms}, {s.vms_per_learner} per learner)"
            + (f": {per_user}" if per_user else ""),
            f"limits:    {s.mem_limit} memory, {s.cpu_limit:g} CPUs per learner; idle servers "
            f"stop after {s.idle_timeout} s",
        ]  # fmt: skip
        if self.slots_busy is not None:
            out.append(f"VM slots:  {self.slots_busy} of {s.max_vms} held")
        return out


def lab_vms() -> dict[str, int]:
    """QEMU processes of the lab on this machine, counted per owner."""
    counts: dict[str, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            uid = proc.stat().st_uid
        except OSError:
            continue
        if not argv[0].endswith(b"qemu-system-x86_64") or not any(
            arg.startswith(_SHARE_OPTION) for arg in argv
        ):
            continue
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = str(uid)
        counts[user] = counts.get(user, 0) + 1
    return counts


def _api(settings: HubSettings, token: str, path: str) -> object:
    host = "127.0.0.1" if settings.ip in ("0.0.0.0", "", "::") else settings.ip
    request = urllib.request.Request(
        f"http://{host}:{settings.port}/hub/api{path}",
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def read_status(layout: HubLayout) -> HubStatus:
    """Everything ``hub status`` prints, gathered without changing anything."""
    settings = HubSettings.load(layout.settings)
    pid = None
    if layout.pid_file.is_file():
        text = layout.pid_file.read_text().strip()
        pid = int(text) if text.isdigit() and pid_alive(int(text)) else None
    status = HubStatus(layout, settings, pid, None, vms=lab_vms())
    try:
        from kernelmagic.machine.slots import count_busy

        status.slots_busy, _ = count_busy(layout.vm_slots)
    except (ImportError, OSError):
        status.slots_busy = None
    token = layout.api_token.read_text().strip() if layout.api_token.is_file() else ""
    try:
        status.hub_version = str(_api(settings, token, "/")["version"])  # type: ignore[index]
        users = _api(settings, token, "/users?state=active")
    except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
        status.error = str(getattr(exc, "reason", exc))
        return status
    for user in users:  # type: ignore[attr-defined]
        for server in (user.get("servers") or {}).values():
            status.servers[user["name"]] = "ready" if server.get("ready") else "pending"
    return status
