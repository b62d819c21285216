# SPDX-License-Identifier: MIT
"""``kernelmagic hub install``: a course server, set up as root, every part under one prefix.

Each step checks what is already there and does only what is missing or out of date, so
the same command updates a server (new lessons, a new package version, other limits).
Learners must be able to read and run what the install makes, and never write it: the
install runs under umask 022, owns everything as root, and refuses a prefix or a Python
that other users cannot reach (the catch with a ``.venv`` under ``/root``).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from kernelmagic import paths
from kernelmagic.errors import SetupError, UsageError
from kernelmagic.files import write_atomically
from kernelmagic.hub.layout import UNIT_NAME, HubLayout
from kernelmagic.hub.settings import HubSettings
from kernelmagic.machine.slots import VMSlots

__all__ = ["PROXY_PACKAGE", "InstallResult", "install_hub", "source_tree"]

PROXY_PACKAGE = "configurable-http-proxy@5.3.0"  # needs Node.js 20 or later
PROXY_PACKAGE_OLD_NODE = "configurable-http-proxy@4.6.3"
HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
#: Every package of the environment pinned (the container recipe uses the same file), so a
#: class gets the JupyterLab and nbgrader that were tested, not whatever PyPI has that day.
CONSTRAINTS = HERE / "deploy" / "constraints.txt"
TEMPLATE = HERE / "jupyterhub_config.py.in"
# Generous: a first install downloads JupyterLab, nbgrader and JupyterHub.
PIP_TIMEOUT = 1200.0

Progress = Callable[[str], None]


@dataclass
class InstallResult:
    layout: HubLayout
    settings: HubSettings
    config_kept: bool  # the administrator had edited jupyterhub_config.py
    systemd_enabled: bool


def source_tree() -> Path:
    """The checkout this kernelmagic runs from: the install builds the server's copy from it."""
    root = HERE.parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "notebooks").is_dir():
        raise SetupError(
            "`kernelmagic hub install` runs from a kernelmagic checkout (it installs the "
            f"package and the lessons from it); {root} is not one"
        )
    return root


def _run(argv: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    """Run one step's command; its output reaches the administrator only when it fails."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what} took over {timeout:.0f} s: {' '.join(argv)}") from exc
    except FileNotFoundError as exc:
        raise SetupError(f"{what}: {argv[0]} is not installed") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {done.returncode}): {' '.join(argv)}\n{tail}")


def _check_reachable(path: Path, what: str) -> None:
    """Every folder above ``path`` must let other users through (o+x)."""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            break
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise UsageError(
                f"{what} {path} is inside {folder}, which other users cannot enter; "
                "learners run from it, so choose a place like /opt or /srv"
            )


def _check_root_owned(prefix: Path) -> None:
    """Root writes the token and runs the hub from here: no one else may own or write a
    folder on the way (a shared one like /tmp is fine when it has the sticky bit)."""
    real = prefix.resolve()
    for folder in [*reversed(real.parents), real]:
        st = folder.stat()
        shared_ok = folder != real and st.st_mode & stat.S_ISVTX
        if st.st_uid != 0 or (st.st_mode & 0o022 and not shared_ok):
            raise UsageError(
                f"{folder} is not root's alone (owner uid {st.st_uid}, mode "
                f"{stat.S_IMODE(st.st_mode):o}); put the course server where only root writes"
            )


def _install_host_packages(src: Path, progress: Progress) -> None:
    """The lab's Debian packages (QEMU, gcc, kbuild's tools, python3-venv), as `make setup`:
    learners cannot install them."""
    progress("host packages: checking vm/host-packages.txt")
    _run(["sh", str(src / "vm" / "host-packages.sh")], "host packages", 1800)


def _digest(files: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _package_files(src: Path) -> list[Path]:
    files = [
        p for p in (src / "kernelmagic").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]
    recipe = [p for p in (src / "vm").glob("*") if p.is_file()]
    return [*files, src / "pyproject.toml", *recipe, REQUIREMENTS, CONSTRAINTS]


def _installer(layout: HubLayout) -> list[str]:
    """uv when it is at hand (beside this Python, as `make setup` puts it, or on PATH): the
    same pins in seconds instead of a minute; else the environment's own pip."""
    beside = Path(sys.executable).with_name("uv")
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv:
        # Copies, not links into root's uv cache: the environment must stand on its own.
        return [uv, "pip", "install", "-q", "--link-mode=copy", "--python", str(layout.python)]
    return [str(layout.python), "-m", "pip", "install", "--disable-pip-version-check", "-q"]


def _install_environment(layout: HubLayout, src: Path, python: Path, progress: Progress) -> None:
    """The server's venv: the package (not editable: learners cannot read the checkout)."""
    _check_reachable(python, "the Python")
    if not os.access(python, os.X_OK):
        raise UsageError(f"{python} is not an executable Python; pass --python")
    if not (layout.venv / "bin" / "pip").exists():  # none yet, or a half-made one
        shutil.rmtree(layout.venv, ignore_errors=True)
        progress(f"creating the environment {layout.venv} with {python}")
        _run([str(python), "-m", "venv", str(layout.venv)], "python -m venv", 300)
    stamp = layout.venv / ".kernelmagic-installed"
    want = _digest(_package_files(src))
    if stamp.is_file() and stamp.read_text().strip() == want:
        progress("environment: up to date")
        return
    progress("installing kernelmagic, JupyterLab, nbgrader and JupyterHub into it")
    # setuptools builds inside the source folder: give it a copy, not the checkout.
    with tempfile.TemporaryDirectory(prefix="kernelmagic-hub-src-") as tmp:
        copy = Path(tmp) / "kernelmagic"
        copy.mkdir()
        for name in ("kernelmagic", "vm"):
            skip = shutil.ignore_patterns("__pycache__", "node_modules")
            shutil.copytree(src / name, copy / name, ignore=skip)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copyfile(src / name, copy / name)
        installer = _installer(layout)
        # Its own temporary files (uv leaves build locks behind) go with this folder.
        _run([*installer, "-c", str(CONSTRAINTS), "-r", str(REQUIREMENTS), str(copy)],
             f"{Path(installer[0]).name} install", PIP_TIMEOUT,
             {**os.environ, "TMPDIR": tmp})  # fmt: skip
    _run([str(layout.python), "-m", "kernelmagic.notebook.kernelspec"], "kernelspec", 120)
    write_atomically(stamp, want + "\n")


def _install_bundle(layout: HubLayout, progress: Progress) -> None:
    """Copy the administrator's VM bundle (building it first if there is none)."""
    source_root = paths.bundle_root()
    current = source_root / "current"
    if not current.is_file():
        progress("no VM bundle yet: building one (Debian packages, a few minutes)")
        env = {**os.environ, paths.BUNDLE_DIR_ENV: str(source_root)}
        _run([str(layout.bin("kernelmagic")), "vm", "build"], "kernelmagic vm build", 1800, env)
    release = current.read_text().strip()
    target = layout.bundle / release
    source = source_root / release
    manifest = "manifest.json"
    if (target / manifest).is_file() and (target / manifest).read_bytes() == (
        source / manifest
    ).read_bytes():
        progress(f"VM bundle {release}: up to date")
    else:
        progress(f"copying the VM bundle {release} to {layout.bundle}")
        partial = layout.bundle / f".{release}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(source, partial, symlinks=True)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    write_atomically(layout.bundle / "current", release + "\n")
    _make_readable(layout.bundle)


def _make_readable(root: Path) -> None:
    """Root-owned, readable by all, writable by no learner."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            p = Path(folder) / name
            if p.is_symlink():
                continue
            mode = p.stat().st_mode
            extra = stat.S_IRGRP | stat.S_IROTH
            if p.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            p.chmod((mode | extra) & ~(stat.S_IWGRP | stat.S_IWOTH))
    root.chmod(0o755)


def _install_lessons(layout: HubLayout, src: Path, versions: str, progress: Progress) -> None:
    """The lessons learners receive, by default the student versions (the C solutions
    replaced by their TODO skeletons, no instructor-only cells or hidden checks); replaced
    whole, so a removed lesson goes too."""
    from kernelmagic.course.student import make_student_versions

    staging = layout.prefix / ".lessons.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    if versions == "student":
        make_student_versions(src / "notebooks", staging)
    else:
        for nb in sorted((src / "notebooks").glob("*.ipynb")):
            shutil.copyfile(nb, staging / nb.name)
    for nb in staging.glob("*.ipynb"):
        nb.chmod(0o644)
    staging.chmod(0o755)
    old = layout.prefix / ".lessons.old"
    shutil.rmtree(old, ignore_errors=True)
    if layout.lessons.exists():
        layout.lessons.rename(old)
    staging.rename(layout.lessons)
    shutil.rmtree(old, ignore_errors=True)
    count = len(list(layout.lessons.glob("*.ipynb")))
    progress(f"lessons: {count} notebooks ({versions} versions) in {layout.lessons}")


def _install_instructor_lessons(layout: HubLayout, src: Path, settings: HubSettings,
                                progress: Progress) -> None:  # fmt: skip
    """The full lessons, which nbgrader's course is made from, where no learner can read
    them: owned by the first instructor (as the course's folder in the exchange), 0700."""
    folder = layout.instructor_lessons
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    for nb in sorted((src / "notebooks").glob("*.ipynb")):
        shutil.copyfile(nb, folder / nb.name)
        (folder / nb.name).chmod(0o600)
    if not settings.instructors:
        return
    try:
        entry = pwd.getpwnam(settings.instructors[0])
    except KeyError:
        progress(f"no user {settings.instructors[0]} yet: install again once the account exists")
        return
    for path in [folder, *folder.iterdir()]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _node_major() -> int | None:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"v(\d+)\.", out.stdout.strip())
    return int(m.group(1)) if m else None


def _install_proxy(layout: HubLayout, progress: Progress) -> None:
    """configurable-http-proxy: 5.x on Node.js 20 and later, else the 4.x line (Debian 12's
    own Node.js is 18)."""
    if shutil.which("npm") is None or _node_major() is None:
        progress("installing Node.js and npm (Debian packages) for the hub's proxy")
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run(["apt-get", "update"], "apt-get update", 900, apt_env)
        _run(["apt-get", "install", "-y", "--no-install-recommends", "nodejs", "npm"],
             "apt-get install nodejs npm", 900, apt_env)  # fmt: skip
    major = _node_major() or 0
    package = PROXY_PACKAGE if major >= 20 else PROXY_PACKAGE_OLD_NODE
    version = package.rpartition("@")[2]
    installed = layout.node / "node_modules" / "configurable-http-proxy" / "package.json"
    if installed.is_file() and json.loads(installed.read_text()).get("version") == version:
        progress(f"configurable-http-proxy {version}: present")
        return
    progress(f"installing {package} (npm, Node.js {major})")
    layout.node.mkdir(parents=True, exist_ok=True)
    _run(["npm", "install", "--prefix", str(layout.node), "--no-audit", "--no-fund",
          "--loglevel=error", package], "npm install", 600)  # fmt: skip


def _ensure_group(name: str, create: bool, progress: Progress) -> None:
    """The login group; only the machine's own install creates it (a prefix touches nothing
    outside itself)."""
    try:
        grp.getgrnam(name)
        return
    except KeyError:
        if not create:
            raise UsageError(
                f"the group {name} does not exist; create it (groupadd {name}) or pass --group"
            ) from None
    progress(f"creating the group {name}: its members may log in")
    _run(["groupadd", "--system", name], "groupadd", 60)


def _write_exchange(layout: HubLayout, settings: HubSettings, progress: Progress) -> None:
    """nbgrader's exchange, and in it the course's folder, owned by its first instructor.

    nbgrader wants the exchange itself writable by all (1777). The course's folder is made
    here, not at the first release: else a learner could create it first and own what
    classmates later fetch and run.
    """
    layout.exchange.mkdir(exist_ok=True)
    layout.exchange.chmod(0o1777)
    course = layout.exchange / settings.course_id
    course.mkdir(exist_ok=True)
    course.chmod(0o755)
    owner = settings.instructors[0] if settings.instructors else "root"
    try:
        entry = pwd.getpwnam(owner)
    except KeyError:
        progress(f"no user {owner} yet: {course} stays root's until an install after "
                 "the instructor's account exists")  # fmt: skip
        return
    os.chown(course, entry.pw_uid, entry.pw_gid)


def _write_shared_folders(layout: HubLayout, settings: HubSettings, api_token: str | None,
                          progress: Progress) -> None:  # fmt: skip
    layout.state.mkdir(exist_ok=True)
    layout.state.chmod(0o700)
    if api_token is not None or not layout.api_token.is_file():
        write_atomically(layout.api_token, (api_token or secrets.token_hex(32)) + "\n", mode=0o600)
    layout.api_token.chmod(0o600)
    _write_exchange(layout, settings, progress)
    VMSlots.create(layout.vm_slots, settings.max_vms)  # root's files: learners only lock them
    from kernelmagic.hub.grading import system_nbgrader_config

    # In the install's own Jupyter config folder (learners' servers get it through
    # JUPYTER_CONFIG_PATH), not inside the environment, which may serve other installs.
    write_atomically(layout.jupyter_config / "nbgrader_config.py",
                     system_nbgrader_config(layout.exchange, settings.course_id))  # fmt: skip
    _write_lab_config(layout.jupyter_config)


#: Learners' servers offer the course's kernel only, so a new notebook cannot land on a
#: plain Python kernel without the magics.
SERVER_CONFIG = {
    "KernelSpecManager": {"allowed_kernelspecs": ["kernelmagic"]},
    "MappingKernelManager": {"default_kernel_name": "kernelmagic"},
}
#: No pop-up asking every learner about Jupyter's news feed.
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}


def _write_lab_config(folder: Path) -> None:
    write_atomically(folder / "jupyter_server_config.json", json.dumps(SERVER_CONFIG, indent=2))
    write_atomically(folder / "labconfig" / "page_config.json", json.dumps(PAGE_CONFIG, indent=2))


def _write_config(layout: HubLayout, settings: HubSettings) -> bool:
    """Write jupyterhub_config.py; keep one the administrator edited. True if kept."""
    text = Template(TEMPLATE.read_text()).substitute(
        prefix=layout.prefix, settings=layout.settings, group=settings.group
    )
    settings.save(layout.settings)
    stamp = layout.etc / ".jupyterhub_config.sha256"
    ours = hashlib.sha256(text.encode()).hexdigest()
    if layout.config.exists():
        now = hashlib.sha256(layout.config.read_bytes()).hexdigest()
        written = stamp.read_text().strip() if stamp.exists() else None
        if now not in (written, ours):
            write_atomically(layout.config.with_name(layout.config.name + ".new"), text)
            return True
    write_atomically(layout.config, text)
    write_atomically(stamp, ours + "\n")
    return False


def _write_unit(layout: HubLayout, system_wide: bool, progress: Progress) -> bool:
    """The systemd unit; enabled and started when this install is the machine's own."""
    unit = f"""[Unit]
Description=kernelmagic course server (JupyterHub, one lab VM per learner)
After=network-online.target
Wants=network-online.target

[Service]
WorkingDirectory={layout.state}
ExecStart={layout.bin('jupyterhub')} -f {layout.config}
Environment=PATH={layout.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin
Restart=on-failure
KillMode=mixed

[Install]
WantedBy=multi-user.target
"""
    write_atomically(layout.unit, unit)
    if not system_wide:
        return False
    write_atomically(Path("/etc/systemd/system") / UNIT_NAME, unit)
    if not Path("/run/systemd/system").is_dir():
        progress("systemd is not running here: start the hub with the command below")
        return False
    _run(["systemctl", "daemon-reload"], "systemctl daemon-reload", 60)
    _run(["systemctl", "enable", "--now", UNIT_NAME], "systemctl enable", 120)
    progress(f"systemd: {UNIT_NAME} enabled and started")
    return True


def install_hub(
    settings: HubSettings,
    prefix: Path | None = None,
    *,
    api_token: str | None = None,
    python: Path = Path("/usr/bin/python3"),
    progress: Progress = print,
) -> InstallResult:
    """Set up (or update) a course server; see the module docstring."""
    from kernelmagic.hub.layout import DEFAULT_PREFIX

    settings.check()
    if os.geteuid() != 0:
        raise UsageError("`kernelmagic hub install` runs as root (it creates the server's files "
                         "and the hub switches to each learner's account)")  # fmt: skip
    system_wide = prefix is None
    layout = HubLayout((prefix or DEFAULT_PREFIX).absolute())
    src = source_tree()
    old_umask = os.umask(0o022)
    try:
        layout.prefix.mkdir(parents=True, exist_ok=True)
        layout.prefix.chmod(0o755)
        _check_reachable(layout.prefix, "the prefix")
        _check_root_owned(layout.prefix)
        _install_host_packages(src, progress)
        _ensure_group(settings.group, system_wide, progress)
        _install_environment(layout, src, python, progress)
        _install_bundle(layout, progress)
        _install_lessons(layout, src, settings.lessons, progress)
        _install_instructor_lessons(layout, src, settings, progress)
        _install_proxy(layout, progress)
        _write_shared_folders(layout, settings, api_token, progress)
        kept = _write_config(layout, settings)
        enabled = _write_unit(layout, system_wide, progress)
        _make_readable(layout.etc)
    finally:
        os.umask(old_umask)
    return InstallResult(layout, settings, kept, enabled)
