# SPDX-License-Identifier: MIT
"""``kernelmagic doctor``: what the lab needs, what this host has, and how to fix the rest."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import SetupError
from kernelmagic.machine import accel
from kernelmagic.machine.bundle import Bundle, tree_size

__all__ = ["Check", "cache_sizes", "checks", "run_doctor", "unsupported_host_reason"]


@dataclass(frozen=True)
class Check:
    """One line of the report: what was looked at, what was found, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def unsupported_host_reason() -> str:
    """Why this host cannot run the lab yet, in one sentence; empty when it can."""
    system = platform.system()
    if system == "Darwin":
        return (
            "macOS is not supported yet: the lab builds its VM from Debian packages; "
            "run it in a Debian 12 VM (UTM, Lima) instead"
        )
    if system != "Linux":
        return f"{system} is not supported yet: the lab needs a Debian 12 x86-64 Linux host"
    machine = platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return f"{machine} hosts are not supported yet: the lab VM is x86-64 only"
    release = platform.release().lower()
    if ("microsoft" in release or "wsl" in release) and not os.path.exists("/dev/kvm"):
        return (
            "WSL without nested virtualisation has no /dev/kvm; the lab will run "
            "under TCG (slow but works) once set up in a Debian WSL distribution"
        )
    os_release = _os_release()
    if os_release.get("ID") != "debian":
        name = os_release.get("PRETTY_NAME", "this distribution")
        return (
            f"{name} is not supported yet: the lab fetches its kernel with apt from "
            "Debian's archive; use Debian 12"
        )
    return ""


def _os_release() -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value.strip().strip('"')
    return values


def _tool(name: str, fix: str, required: bool = True) -> Check:
    path = shutil.which(
        name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    )
    if path is None:
        return Check(name, False, "missing", fix, required)
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    version = out.splitlines()[0].strip() if out else path
    return Check(name, True, version, "", required)


def checks() -> list[Check]:
    apt = "sudo apt-get install"
    result = [
        _tool(accel.QEMU, f"{apt} qemu-system-x86"),
        _tool("gcc-12", f"{apt} gcc-12 (the compiler Debian built the 6.1 kernel with)"),
        _tool("make", f"{apt} make"),
        _tool("depmod", f"{apt} kmod"),
        _tool("gdb", f"{apt} gdb (to decode oopses)", required=False),
        _tool("bwrap", f"{apt} bubblewrap (to grade students' code in a sandbox)", required=False),
        _tool("apt-get", "the bundle is built from Debian packages: use a Debian host"),
    ]
    usable, why = accel.kvm_usable()
    result.append(Check("/dev/kvm", usable, why, "" if usable else "TCG works without it",
                        required=False))  # fmt: skip
    known = accel.recorded()
    forced = os.environ.get("KERNELMAGIC_ACCEL")
    if forced:
        result.append(Check("accelerator", True, f"{forced} (forced by KERNELMAGIC_ACCEL)"))
    elif known:
        retry = (
            "kernelmagic vm probe-accel --force (after fixing KVM)"
            if usable and known.accel == "tcg"
            else ""
        )
        result.append(Check("accelerator", True, f"{known.accel}: {known.reason}", retry))
    else:
        result.append(Check("accelerator", False, "not probed yet",
                            "kernelmagic vm probe-accel", required=False))  # fmt: skip
    try:
        bundle = Bundle.load()
        result.append(Check("VM bundle", True,
                            f"kernel {bundle.kernel_release}, {bundle.size_bytes() / 1e6:.0f} MB"
                            f" in {bundle.root}"))  # fmt: skip
    except SetupError as exc:
        result.append(Check("VM bundle", False, str(exc).split(";")[0], "kernelmagic vm build"))
    return result


def cache_sizes() -> dict[str, int]:
    root = paths.home()
    sizes = {}
    for name, folder in (
        ("bundle", paths.bundle_root()),
        ("downloaded packages", paths.downloads_dir()),
        ("module builds", paths.builds_dir()),
        ("saved VM states", paths.home() / "snapshots"),
    ):
        sizes[name] = tree_size(folder) if folder.exists() else 0
    sizes["total"] = tree_size(root) if root.exists() else 0
    return sizes


def run_doctor() -> int:
    reason = unsupported_host_reason()
    if reason:
        print(f"host: {reason}")
    else:
        print(f"host: {_os_release().get('PRETTY_NAME', 'Linux')} on {platform.machine()}, "
              f"kernel {platform.release()}")  # fmt: skip
    failed = False
    for check in checks():
        mark = "ok " if check.ok else ("-- " if not check.required else "!! ")
        print(f"{mark}{check.name}: {check.detail}")
        if check.fix:
            print(f"     {'fix' if not check.ok else 'to check again'}: {check.fix}")
        failed |= check.required and not check.ok
    print(f"cache ({paths.home()}):")
    for name, size in cache_sizes().items():
        print(f"   {name}: {size / 1e6:.1f} MB")
    print("   `kernelmagic cache clean` removes it all")
    if failed or (reason and "WSL" not in reason):
        print("something the lab needs is missing; `make setup` installs it all")
        return 1
    print("all set: `make lab` opens the course")
    return 0
