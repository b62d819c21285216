# SPDX-License-Identifier: MIT
"""The Kubernetes deployment, checked by reading it: the learner image's recipe and the z2jh values.

No container runtime works on the machines that test this project (podman is refused
``setrlimit``, docker has no engine), so the Containerfile is parsed, not built. What is
checked is what would make a built image wrong or unrepeatable: an unpinned base image or
package, a `make setup` step missing or out of order, a saved state keyed to another path
than the learner's, a root user, values the chart does not know, a launcher that does not
exist. Each check returns the problems it finds; the tests further down feed it broken
copies of the files, so every check is shown to fail when it should.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "kernelmagic" / "hub" / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"
VALUES = DEPLOY / "z2jh-values.yaml"
CONSTRAINTS = DEPLOY / "constraints.txt"
REQUIREMENTS = ROOT / "kernelmagic" / "hub" / "requirements.txt"
HOST_PACKAGES = ROOT / "vm" / "host-packages.txt"

MIB = 1 << 20
#: Measured on the lab VM (README): QEMU's resident memory restored / after a cold boot.
QEMU_RESTORED = 163 * MIB
QEMU_COLD = 285 * MIB
#: A Jupyter server with the course kernel, at rest.
JUPYTER = 150 * MIB

# -- the Containerfile -------------------------------------------------------------------


@dataclass
class Instruction:
    """One instruction, with the variables and the user in force where it runs."""

    keyword: str
    args: str
    line: int
    variables: dict[str, str] = field(default_factory=dict)
    user: str = "root"

    def expanded(self) -> str:
        """The arguments with ARG and ENV values substituted (shell-local names stay)."""
        return expand(self.args, self.variables)


def expand(text: str, variables: dict[str, str]) -> str:
    def value(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return variables.get(name, m.group(0))

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, text)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continued lines; drop comments and blank lines, as the builder does."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        out.append((start, " ".join(pending)))
        pending = []
    if pending:
        out.append((start, " ".join(pending)))
    return out


def parse_env(args: str) -> dict[str, str]:
    """``ENV A=1 B="x y"`` or the old ``ENV A 1``."""
    words = shlex.split(args)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


def parse_containerfile(text: str) -> list[Instruction]:
    global_args: dict[str, str] = {}
    variables: dict[str, str] = {}
    user = "root"
    seen_from = False
    out = []
    for line, body in logical_lines(text):
        keyword, _, args = body.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            seen_from = True
            variables = {}
            user = "root"
            out.append(Instruction(keyword, args, line, dict(global_args), user))
            continue
        if keyword == "ARG":
            name, has_default, default = args.partition("=")
            scope = variables if seen_from else global_args
            if has_default:
                scope[name] = default.strip('"')
            elif seen_from and name in global_args:
                scope[name] = global_args[name]
        elif keyword == "ENV":
            variables.update({k: expand(v, variables) for k, v in parse_env(args).items()})
        elif keyword == "USER":
            user = expand(args, variables)
        out.append(Instruction(keyword, args, line, dict(variables), user))
    return out


def runs(instructions: list[Instruction]) -> list[tuple[int, Instruction]]:
    return [(i, ins) for i, ins in enumerate(instructions) if ins.keyword == "RUN"]


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    return instructions[starts[-1]:] if starts else instructions


def commands(run_text: str) -> list[list[str]]:
    """The simple commands of a RUN line, as words (enough for pip and apt lines)."""
    out = []
    for part in re.split(r"&&|\|\||;|\|", run_text):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if words:
            out.append(words)
    return out


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    dest: str


def copies(instructions: list[Instruction]) -> list[Copy]:
    out = []
    for ins in instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        words = [w for w in shlex.split(ins.expanded()) if not w.startswith("--")]
        if len(words) >= 2:
            out.append(Copy(tuple(words[:-1]), words[-1]))
    return out


def repo_path(image_path: str, copied: list[Copy]) -> str | None:
    """Which file of the build context (the repository) ends up at ``image_path``."""
    found = None
    for c in copied:
        for src in c.sources:
            if len(c.sources) == 1 and not c.dest.endswith("/"):
                target = c.dest
            else:
                target = f"{c.dest.rstrip('/')}/{PurePosixPath(src).name}"
            if image_path == target:
                found = src
            elif image_path.startswith(target + "/"):
                found = f"{src.rstrip('/')}/{image_path[len(target) + 1:]}"
    return found


# -- the checks on the Containerfile -----------------------------------------------------

DATED_TAG = re.compile(r"^(?:bookworm|12)[-.].*?(\d{8})")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def base_image(instructions: list[Instruction]) -> str:
    froms = [ins for ins in instructions if ins.keyword == "FROM"]
    return expand(froms[-1].args.split()[0], froms[-1].variables) if froms else ""


def base_date(instructions: list[Instruction]) -> str | None:
    tag = base_image(instructions).rpartition("/")[2].partition(":")[2]
    m = DATED_TAG.match(tag)
    return m.group(1) if m else None


def check_base_image(instructions: list[Instruction]) -> list[str]:
    image = base_image(instructions)
    if not image:
        return ["no FROM"]
    name, _, tag = image.rpartition("/")[2].partition(":")
    if not name.startswith("debian"):
        return [f"base image {image} is not Debian; the lab supports Debian 12"]
    if DIGEST.search(image):
        return []
    if not tag or "latest" in tag:
        return [f"base image {image} is not pinned (no tag, or latest)"]
    if not tag.startswith(("bookworm", "12")):
        return [f"base image {image} is not Debian 12 (bookworm)"]
    if not DATED_TAG.match(tag):
        return [f"base image {image} moves: pin a dated tag (bookworm-YYYYMMDD-slim) or a digest"]
    return []


def check_apt_snapshot(instructions: list[Instruction]) -> list[str]:
    """apt must read a dated snapshot before anything is installed, the base image's date."""
    snapshot = None
    for i, ins in runs(instructions):
        text = ins.expanded()
        m = re.search(r"snapshot\.debian\.org/archive/debian/(\d{8})T\d{6}Z", text)
        if m and "/etc/apt/sources.list" in text:
            snapshot = (i, m.group(1))
            break
    if snapshot is None:
        return ["apt is not pointed at a snapshot.debian.org date: host package versions move"]
    problems = []
    date = base_date(instructions)
    if date and date != snapshot[1]:
        problems.append(f"apt snapshot {snapshot[1]} is not the base image's date {date}")
    for i, ins in runs(instructions):
        if i < snapshot[0] and ("apt-get install" in ins.args or "host-packages.sh" in ins.args):
            problems.append(f"line {ins.line} installs packages before the apt snapshot is set")
    return problems


def host_package_list(path: Path = HOST_PACKAGES) -> list[str]:
    """Read the list the way vm/host-packages.sh does: '#' starts a comment."""
    words = []
    for line in path.read_text().splitlines():
        words += line.split("#", 1)[0].split()
    return words


def check_host_packages(instructions: list[Instruction]) -> list[str]:
    for i, ins in runs(instructions):
        copied = copies(instructions[:i])  # what the image holds when this line runs
        for words in commands(ins.expanded()):
            scripts = [w for w in words if w.endswith("host-packages.sh")]
            if not scripts:
                continue
            script = repo_path(scripts[0], copied)
            beside = PurePosixPath(scripts[0]).with_name("host-packages.txt")
            listed = repo_path(str(beside), copied)
            if script != "vm/host-packages.sh" or listed != "vm/host-packages.txt":
                return [
                    f"line {ins.line} runs {scripts[0]}, but the image does not hold "
                    "vm/host-packages.sh with vm/host-packages.txt beside it"
                ]
            return []
    installed: set[str] = set()
    for _, ins in runs(instructions):
        for words in commands(ins.expanded()):
            if words[:2] in (["apt-get", "install"], ["apt", "install"]):
                installed |= {w.split("=")[0] for w in words[2:] if not w.startswith("-")}
    missing = [p for p in host_package_list() if p not in installed]
    return [f"host packages not installed (neither by vm/host-packages.sh nor listed): {missing}"] \
        if missing else []  # fmt: skip


PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?==[0-9][^,;<>=!~]*$")
PIP_VALUE_OPTIONS = {
    "-r", "--requirement", "-c", "--constraint", "-i", "--index-url", "--extra-index-url",
    "-f", "--find-links", "--prefix", "--target", "-t", "--root", "--platform",
}  # fmt: skip


@dataclass
class PipInstall:
    line: int
    index: int
    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)
    unpinned: list[str] = field(default_factory=list)
    editable: bool = False


def pip_installs(instructions: list[Instruction]) -> list[PipInstall]:
    out = []
    for i, ins in runs(instructions):
        for words in commands(ins.expanded()):
            if "install" not in words:
                continue
            at = words.index("install")
            program = " ".join(words[:at])
            if not (program.endswith("pip") or program.endswith("-m pip")):
                continue
            pip = PipInstall(ins.line, i)
            rest = iter(words[at + 1:])
            for word in rest:
                option, eq, inline = word.partition("=")
                if option in PIP_VALUE_OPTIONS:
                    value = inline if eq else next(rest, "")
                    if option in ("-r", "--requirement"):
                        pip.requirements.append(value)
                    elif option in ("-c", "--constraint"):
                        pip.constraints.append(value)
                elif word in ("-e", "--editable"):
                    pip.editable = True
                elif word.startswith("-"):
                    continue
                elif word.startswith(("/", ".")):
                    pip.local.append(word)
                elif PIN.match(word):
                    pip.pinned.append(word)
                else:
                    pip.unpinned.append(word)
            out.append(pip)
    return out


def read_pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file where every line must be ``name==version``."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert PIN.match(line), f"{path.name}: {line!r} is not pinned with =="
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return pins


def check_pip(instructions: list[Instruction]) -> list[str]:
    problems = []
    installs = pip_installs(instructions)
    for pip in installs:
        if pip.editable:
            problems.append(f"line {pip.line}: an editable install; learners need a real one")
        if pip.unpinned:
            problems.append(f"line {pip.line}: not pinned with ==: {pip.unpinned}")
    package = [
        p for p in installs
        if any(repo_path(f"{d.rstrip('/')}/pyproject.toml", copies(instructions[:p.index]))
               == "pyproject.toml" for d in p.local)
    ]  # fmt: skip
    if not package:
        return [*problems, "no pip install of the package itself (the copied pyproject.toml)"]
    pip = package[0]
    copied = copies(instructions[: pip.index])
    wanted = {
        "kernelmagic/hub/requirements.txt": [repo_path(r, copied) for r in pip.requirements],
        "kernelmagic/hub/deploy/constraints.txt": [repo_path(c, copied) for c in pip.constraints],
    }
    for name, given in wanted.items():
        if name not in given:
            problems.append(f"line {pip.line}: the package's pip install does not read {name}")
    if not any(w.startswith("pip==") for p in installs for w in p.pinned):
        problems.append("pip itself is not pinned (pip install pip==X.Y)")
    return problems


def check_no_latest(instructions: list[Instruction]) -> list[str]:
    problems = []
    for ins in instructions:
        text = ins.expanded()
        if re.search(r"[:@]latest\b", text) or (ins.keyword == "FROM" and ":" not in text):
            problems.append(f"line {ins.line}: 'latest' or no tag: {text}")
        for words in commands(text) if ins.keyword == "RUN" else []:
            if words[:2] in (["npm", "install"], ["npm", "i"]):
                loose = [w for w in words[2:]
                         if not w.startswith("-") and not re.search(r".@\d+\.\d+\.\d+$", w)]
                if loose:
                    problems.append(f"line {ins.line}: npm packages without a version: {loose}")
    return problems


#: `make setup`'s steps, in its order, and the words that show each one in a RUN.
SETUP_STEPS = [
    ("host-packages", r"host-packages\.sh|apt-get install"),
    ("venv", r"\bpip install\b.*\s/\S+"),
    ("kernelspec", r"-m kernelmagic\.notebook\.kernelspec\b"),
    ("labext", r"-m kernelmagic\.notebook\.labext\b"),
    ("vm-bundle", r"\bkernelmagic vm build\b"),
    ("accel", r"\bkernelmagic vm probe-accel\b"),
    ("saved state", r"\bkernelmagic vm boot\b"),
]


def step_positions(instructions: list[Instruction]) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for i, ins in runs(instructions):
        for step, pattern in SETUP_STEPS:
            m = re.search(pattern, ins.args)
            if m and step not in found:
                found[step] = (i, m.start())
    return found


def check_setup_steps(instructions: list[Instruction], env: dict[str, str]) -> list[str]:
    found = step_positions(instructions)
    problems = [f"`make setup` step missing: {s}" for s, _ in SETUP_STEPS if s not in found]
    order = [step for step, _ in SETUP_STEPS if step in found]
    if order != sorted(order, key=lambda s: found[s]):
        problems.append(f"steps out of make setup's order: {sorted(order, key=lambda s: found[s])}")
    if "saved state" in found:
        boot = instructions[found["saved state"][0]]
        inline = re.search(r"\bKERNELMAGIC_HOME=(\S+)", boot.args)
        home = inline.group(1) if inline else boot.variables.get("KERNELMAGIC_HOME")
        if home != env.get("KERNELMAGIC_HOME"):
            problems.append(
                f"line {boot.line}: the saved state is made with KERNELMAGIC_HOME={home}, not the "
                f"learner's {env.get('KERNELMAGIC_HOME')}: its key would never match"
            )
        if re.search(r"KERNELMAGIC_SNAPSHOT=(0|no|off)", boot.args):
            problems.append(f"line {boot.line}: the first boot has snapshots switched off")
    if "vm-bundle" in found:
        build = instructions[found["vm-bundle"][0]]
        if build.variables.get("KERNELMAGIC_BUNDLE_DIR") != env.get("KERNELMAGIC_BUNDLE_DIR"):
            problems.append(f"line {build.line}: the bundle is not built into the learners' "
                            "KERNELMAGIC_BUNDLE_DIR")
    return problems


def check_final_user(instructions: list[Instruction], values: dict[str, Any]) -> list[str]:
    stage = final_stage(instructions)
    user = stage[-1].user if stage else "root"
    uid, _, gid = user.partition(":")
    if uid in ("root", "0", ""):
        return ["the image ends as root; learners' pods must not"]
    single = values.get("singleuser", {})
    problems = []
    if not uid.isdigit() or int(uid) != single.get("uid"):
        problems.append(f"the image's user {uid} is not singleuser.uid {single.get('uid')}")
    if gid and (not gid.isdigit() or int(gid) != single.get("fsGid")):
        problems.append(f"the image's group {gid} is not singleuser.fsGid {single.get('fsGid')}")
    return problems


def check_copies_exist(instructions: list[Instruction]) -> list[str]:
    return [
        f"COPY source {src} is not in the repository"
        for c in copies(instructions) for src in c.sources if not (ROOT / src).exists()
    ]  # fmt: skip


# -- the z2jh values ---------------------------------------------------------------------

OPEN = "any keys"  # a mapping the chart passes through (traitlets config, env, k8s specs)
LEAF = None
_IMAGE = {"name": LEAF, "tag": LEAF, "pullPolicy": LEAF, "pullSecrets": LEAF}
_NETPOL = {
    "enabled": LEAF, "ingress": LEAF, "egress": LEAF, "interNamespaceAccessLabels": LEAF,
    "allowedIngressPorts": LEAF,
    "egressAllowRules": dict.fromkeys(
        ["cloudMetadataServer", "dnsPortsCloudMetadataServer", "dnsPortsKubeSystemNamespace",
         "dnsPortsPrivateIPs", "nonPrivateIPs", "privateIPs"]),
}  # fmt: skip
_AFFINITY = {"required": LEAF, "preferred": LEAF}
#: The part of the chart's values.schema.yaml (jupyterhub/zero-to-jupyterhub-k8s) this file
#: may use; the schema forbids unknown keys, so a misspelt one fails `helm install` too.
SCHEMA: dict[str, Any] = {
    "hub": {"config": OPEN, "extraConfig": OPEN, "extraEnv": OPEN, "extraFiles": OPEN,
            "baseUrl": LEAF, "image": _IMAGE, "networkPolicy": _NETPOL},
    "singleuser": {
        "image": _IMAGE, "cmd": LEAF, "defaultUrl": LEAF, "extraEnv": OPEN, "extraFiles": OPEN,
        "uid": LEAF, "fsGid": LEAF, "allowPrivilegeEscalation": LEAF, "startTimeout": LEAF,
        "memory": {"limit": LEAF, "guarantee": LEAF}, "cpu": {"limit": LEAF, "guarantee": LEAF},
        "extraResource": {"limits": OPEN, "guarantees": OPEN},
        "storage": {
            "type": LEAF, "capacity": LEAF, "homeMountPath": LEAF, "extraLabels": OPEN,
            "extraVolumes": LEAF, "extraVolumeMounts": LEAF,
            "dynamic": dict.fromkeys(
                ["pvcNameTemplate", "storageAccessModes", "storageClass", "volumeNameTemplate"]),
            "static": {"pvcName": LEAF, "subPath": LEAF},
        },
        "lifecycleHooks": {"postStart": OPEN, "preStop": OPEN},
        "networkPolicy": _NETPOL, "nodeSelector": OPEN, "extraTolerations": LEAF,
        "extraNodeAffinity": _AFFINITY, "extraPodAffinity": _AFFINITY,
        "extraPodAntiAffinity": _AFFINITY, "extraLabels": OPEN, "extraAnnotations": OPEN,
        "extraPodConfig": OPEN, "initContainers": LEAF, "extraContainers": LEAF,
        "profileList": LEAF, "events": LEAF, "serviceAccountName": LEAF,
        "podNameTemplate": LEAF, "cloudMetadata": {"blockWithIptables": LEAF, "ip": LEAF},
    },
    "cull": dict.fromkeys(
        ["enabled", "users", "adminUsers", "removeNamedServers", "timeout", "every",
         "concurrency", "maxAge"]),
    # The chart's other sections: keys exist, their insides are not checked here.
    **dict.fromkeys(["proxy", "scheduling", "ingress", "prePuller", "custom", "debug", "rbac",
                     "global", "imagePullSecret", "imagePullSecrets"], OPEN),
}  # fmt: skip


def unknown_keys(values: Any, schema: Any, path: str = "") -> list[str]:
    if schema is OPEN or schema is LEAF:
        return []
    if not isinstance(values, dict):
        return [f"{path or 'values'} should be a mapping"]
    out = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in schema:
            out.append(f"{where} is not a z2jh value (misspelt, or not in this test's SCHEMA)")
        else:
            out += unknown_keys(value, schema[key], where)
    return out


def get(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def byte_spec(value: Any) -> int | None:
    """JupyterHub's reading of a memory size: a number of bytes, or K/M/G/T (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])", str(value))
    if not m:
        return None
    return int(float(m.group(1)) * 1024 ** ("KMGT".index(m.group(2)) + 1))


def inside(path: str | None, folder: str | None) -> bool:
    if not path or not folder:
        return False
    return PurePosixPath(path) == PurePosixPath(folder) or \
        PurePosixPath(folder) in PurePosixPath(path).parents  # fmt: skip


def check_values(values: dict[str, Any]) -> list[str]:
    problems = unknown_keys(values, SCHEMA)
    required = [
        "hub.config", "singleuser.image.name", "singleuser.image.tag", "singleuser.cmd",
        "singleuser.memory.limit", "singleuser.memory.guarantee", "singleuser.cpu.limit",
        "singleuser.cpu.guarantee", "singleuser.extraEnv", "singleuser.storage.type",
        "singleuser.storage.homeMountPath", "cull.enabled", "cull.timeout",
    ]  # fmt: skip
    problems += [f"{key} is not set" for key in required if get(values, key) is None]
    if problems:
        return problems
    for key in ("singleuser.cpu.limit", "singleuser.cpu.guarantee"):
        if not isinstance(get(values, key), int | float) or isinstance(get(values, key), bool):
            problems.append(f"{key} must be a number (the chart's schema says so)")
    for key in ("cull.timeout", "cull.every", "singleuser.uid", "singleuser.fsGid",
                "singleuser.startTimeout"):  # fmt: skip
        if get(values, key) is not None and type(get(values, key)) is not int:
            problems.append(f"{key} must be an integer")
    if get(values, "cull.enabled") is not True or get(values, "cull.timeout") <= 0:
        problems.append("the idle culler must be on with a timeout: idle VMs hold memory")
    tag = get(values, "singleuser.image.tag")
    if not isinstance(tag, str) or not tag or "latest" in tag:
        problems.append(f"singleuser.image.tag {tag!r} is not a fixed tag")
    elif tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] not in tag:
        problems.append(f"singleuser.image.tag {tag} does not name the package's version")
    env = get(values, "singleuser.extraEnv")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        problems.append("singleuser.extraEnv must map names to strings")
        return problems
    problems += check_memory(values, env)
    home = get(values, "singleuser.storage.homeMountPath")
    if not inside(env.get("KERNELMAGIC_HOME"), home):
        problems.append(f"KERNELMAGIC_HOME is not in the learner's volume {home}: builds and "
                        "saved states would not survive the pod")
    for name in ("KERNELMAGIC_BUNDLE_DIR", "KERNELMAGIC_HUB_PREFIX"):
        if not env.get(name) or inside(env.get(name), home):
            problems.append(f"{name}={env.get(name)} must be set, outside {home}: the home "
                            "volume would hide what the image holds there")
    if env.get("KERNELMAGIC_ACCEL") != "tcg":
        problems.append("pods get no /dev/kvm: KERNELMAGIC_ACCEL must be tcg (the saved state's)")
    cmd = get(values, "singleuser.cmd")
    module = cmd[cmd.index("-m") + 1] if isinstance(cmd, list) and "-m" in cmd[:-1] else None
    if module is None:
        problems.append(f"singleuser.cmd {cmd!r} does not run a module with python -m")
    elif importlib.util.find_spec(module) is None:
        problems.append(f"singleuser.cmd runs {module}, which the package does not have")
    return problems


def check_memory(values: dict[str, Any], env: dict[str, str]) -> list[str]:
    limit = byte_spec(get(values, "singleuser.memory.limit"))
    guarantee = byte_spec(get(values, "singleuser.memory.guarantee"))
    if limit is None or guarantee is None:
        return ["singleuser.memory sizes must read as JupyterHub byte sizes (e.g. 768M, 2G)"]
    vms = int(env.get("KERNELMAGIC_VMS_PER_LEARNER", "1"))
    problems = []
    if guarantee > limit:
        problems.append("singleuser.memory.guarantee is above the limit")
    if guarantee < JUPYTER + QEMU_RESTORED:
        problems.append("singleuser.memory.guarantee does not cover Jupyter and one restored VM")
    if limit < JUPYTER + vms * QEMU_COLD:
        problems.append(f"singleuser.memory.limit does not cover Jupyter and {vms} cold VMs")
    return problems


def check_agreement(instructions: list[Instruction], values: dict[str, Any]) -> list[str]:
    """The image and the values say the same about the environment, and the package reads it."""
    image_env = {
        k: v for k, v in final_stage(instructions)[-1].variables.items()
        if k.startswith("KERNELMAGIC_")
    }  # fmt: skip
    pod_env = {k: v for k, v in (get(values, "singleuser.extraEnv") or {}).items()
               if k.startswith("KERNELMAGIC_")}  # fmt: skip
    problems = [
        f"{k}: the image says {image_env[k]!r}, the values {pod_env[k]!r}"
        for k in sorted(image_env.keys() & pod_env.keys()) if image_env[k] != pod_env[k]
    ]  # fmt: skip
    source = "\n".join(
        p.read_text() for p in (ROOT / "kernelmagic").rglob("*") if p.suffix in (".py", ".in")
    )
    problems += [
        f"{name} is set for learners but nothing in the package reads it"
        for name in sorted(image_env.keys() | pod_env.keys()) if name not in source
    ]  # fmt: skip
    cmd = [ins for ins in final_stage(instructions) if ins.keyword == "CMD"]
    if cmd and json.loads(cmd[-1].args) != get(values, "singleuser.cmd"):
        problems.append("the image's CMD and singleuser.cmd differ")
    return problems


def post_start_command(values: dict[str, Any]) -> list[str]:
    return get(values, "singleuser.lifecycleHooks.postStart.exec.command") or []


def check_saved_state_reaches_learners(
    instructions: list[Instruction], values: dict[str, Any]
) -> list[str]:
    """The baked state must be outside the home volume, where the start hook looks for it."""
    hook = " ".join(post_start_command(values))
    env = get(values, "singleuser.extraEnv") or {}
    m = re.search(r'(\S+)/\*\.state', hook)
    if not m:
        return ["no singleuser.lifecycleHooks.postStart links the image's saved state"]
    folder = expand(m.group(1).replace('"', ""), env)
    boot = step_positions(instructions).get("saved state")
    if boot is None or folder not in instructions[boot[0]].expanded():
        return [f"the first boot does not write its saved state into {folder}"]
    if inside(folder, get(values, "singleuser.storage.homeMountPath")):
        return [f"{folder} is inside the home volume, which hides it"]
    return []


# -- running the checks ------------------------------------------------------------------


def all_problems(containerfile: str, values_text: str) -> list[str]:
    instructions = parse_containerfile(containerfile)
    values = yaml.safe_load(values_text)
    env = get(values, "singleuser.extraEnv") or {}
    return [
        *check_base_image(instructions),
        *check_apt_snapshot(instructions),
        *check_host_packages(instructions),
        *check_pip(instructions),
        *check_no_latest(instructions),
        *check_setup_steps(instructions, env),
        *check_final_user(instructions, values),
        *check_copies_exist(instructions),
        *check_values(values),
        *check_agreement(instructions, values),
        *check_saved_state_reaches_learners(instructions, values),
    ]


def test_the_recipe_and_the_values_pass_every_check() -> None:
    assert all_problems(CONTAINERFILE.read_text(), VALUES.read_text()) == []


def test_constraints_pin_everything_and_agree_with_the_hub_requirements() -> None:
    constraints = read_pins(CONSTRAINTS)
    requirements = read_pins(REQUIREMENTS)
    assert "kernelmagic" not in constraints, "the package is installed from the build context"
    for name, version in requirements.items():
        assert constraints.get(name) == version, (
            f"{name}: requirements.txt pins {version}, constraints.txt {constraints.get(name)}"
        )


def test_a_wheel_install_ships_every_file_the_bundle_recipe_reads() -> None:
    """The image installs the package from a wheel, as `kernelmagic hub install` does.

    Then ``vm build`` reads the recipe from ``share/kernelmagic/vm`` (pyproject's data-files),
    not from a checkout; a file missing there fails the image build half-way.
    """
    from kernelmagic.machine.bundle import RECIPE_FILES

    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "data-files"
    ]
    shipped = {PurePosixPath(f).name for f in data_files.get("share/kernelmagic/vm", [])}
    assert set(RECIPE_FILES) <= shipped, f"not in the wheel: {set(RECIPE_FILES) - shipped}"


def test_the_values_start_the_learner_launcher() -> None:
    values = yaml.safe_load(VALUES.read_text())
    assert get(values, "singleuser.cmd")[-1] == "kernelmagic.hub.learner"
    assert importlib.util.find_spec("kernelmagic.hub.learner") is not None


# -- every check fails on a broken copy --------------------------------------------------

Edit = Callable[[str], str]


def replace(old: str, new: str, count: int = 1) -> Edit:
    def edit(text: str) -> str:
        assert old in text, f"the test's edit no longer applies: {old!r}"
        return text.replace(old, new, count)

    return edit


def drop_lines(pattern: str) -> Edit:
    def edit(text: str) -> str:
        kept = [line for line in text.splitlines() if not re.search(pattern, line)]
        assert len(kept) < len(text.splitlines()), f"nothing matches {pattern!r}"
        return "\n".join(kept) + "\n"

    return edit


BROKEN_CONTAINERFILES: list[tuple[str, Edit, str]] = [
    ("moving base image", replace("bookworm-${DEBIAN_DATE}-slim", "bookworm-slim"), "moves"),
    ("latest base image", replace("debian:bookworm-${DEBIAN_DATE}-slim", "debian:latest"),
     "not pinned"),
    ("no apt snapshot", replace("snapshot.debian.org/archive/debian/", "deb.debian.org/debian/"),
     "snapshot"),
    ("snapshot of another day", replace("debian/${DEBIAN_DATE}T", "debian/20240101T"),
     "not the base image's date"),
    ("host packages skipped", drop_lines(r"^RUN sh /src/vm/host-packages\.sh"), "host packages"),
    ("host list not copied", replace("vm/host-packages.sh vm/host-packages.txt /src/vm/",
                                     "vm/host-packages.sh /src/vm/"), "host-packages.txt"),
    ("unpinned pip", replace("pip==26.2.1", "pip"), "not pinned"),
    ("editable install", replace("        /src \\", "        -e /src \\"), "editable"),
    ("no hub requirements", drop_lines(r"--requirement /src/kernelmagic/hub/requirements"),
     "requirements.txt"),
    ("no constraints", drop_lines(r"--constraint /src/kernelmagic/hub/deploy/constraints"),
     "constraints.txt"),
    ("npm without a version", replace("RUN python -m kernelmagic.notebook.kernelspec",
                                      "RUN npm install configurable-http-proxy && "
                                      "python -m kernelmagic.notebook.kernelspec"), "npm"),
    ("no kernelspec", replace("python -m kernelmagic.notebook.kernelspec \\\n    && ", ""),
     "kernelspec"),
    ("no labext", replace("\n    && python -m kernelmagic.notebook.labext", ""), "labext"),
    ("package copied after its install",
     lambda text: replace("COPY kernelmagic /src/kernelmagic\n", "")(text).replace(
         "# make setup, step kernelspec", "COPY kernelmagic /src/kernelmagic\n#"),
     "does not read kernelmagic/hub/requirements.txt"),
    ("no bundle", replace("kernelmagic vm build", "true"), "vm-bundle"),
    ("no saved state", replace("&& kernelmagic vm boot -- true", ""), "saved state"),
    ("state before bundle", replace("RUN KERNELMAGIC_HOME=/var/tmp/kernelmagic-build kernelmagic "
                                    "vm build", "RUN kernelmagic vm boot -- true && "
                                    "KERNELMAGIC_HOME=/var/tmp/kernelmagic-build kernelmagic vm "
                                    "build"), "order"),
    ("state with another home", replace("&& kernelmagic vm boot -- true",
                                        "&& KERNELMAGIC_HOME=/root/km kernelmagic vm boot -- true"),
     "never match"),
    ("ends as root", replace("USER 1000:100", "USER root"), "root"),
    ("another uid", replace("USER 1000:100", "USER 1001:100"), "singleuser.uid"),
    ("bundle in the home", replace("KERNELMAGIC_BUNDLE_DIR=/opt/kernelmagic-hub/bundle",
                                   "KERNELMAGIC_BUNDLE_DIR=/home/jovyan/bundle"), "bundle"),
    ("a variable nobody reads", replace("LANG=C.UTF-8", "LANG=C.UTF-8 KERNELMAGIC_TURBO=1"),
     "nothing in the package reads"),
    ("a file that is not there", replace("COPY notebooks ", "COPY lessons "), "not in the repo"),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [(e, x) for _, e, x in BROKEN_CONTAINERFILES],
    ids=[name for name, _, _ in BROKEN_CONTAINERFILES],
)  # fmt: skip
def test_a_broken_containerfile_is_caught(edit: Edit, expected: str) -> None:
    problems = all_problems(edit(CONTAINERFILE.read_text()), VALUES.read_text())
    assert any(expected in p for p in problems), problems


BROKEN_VALUES: list[tuple[str, Edit, str]] = [
    ("latest tag", replace("tag: 0.1.0-bookworm-20251229", "tag: latest"), "fixed tag"),
    ("tag of another version", replace("tag: 0.1.0-", "tag: 9.9.9-"), "version"),
    ("misspelt key", replace("    limit: 1536M", "    limits: 1536M"), "not a z2jh value"),
    ("key at the wrong level", replace("\ncull:\n  enabled: true\n  timeout: 1800",
                                       "\ncull:\n  enabled: true\n  idle:\n    timeout: 1800"),
     "not a z2jh value"),
    ("cpu as a string", replace("    limit: 2\n", '    limit: "2"\n'), "number"),
    ("too little memory", replace("limit: 1536M", "limit: 512M"), "cold VMs"),
    ("guarantee above the limit", replace("guarantee: 768M", "guarantee: 2G"), "above"),
    ("no culler", replace("  enabled: true\n  timeout: 1800", "  enabled: false\n  timeout: 1800"),
     "culler"),
    ("launcher that does not exist", replace("kernelmagic.hub.learner", "kernelmagic.hub.lerner"),
     "does not have"),
    ("kvm", replace("KERNELMAGIC_ACCEL: tcg", "KERNELMAGIC_ACCEL: kvm"), "tcg"),
    ("env value not a string", replace('KERNELMAGIC_VMS_PER_LEARNER: "2"',
                                       "KERNELMAGIC_VMS_PER_LEARNER: 2"), "strings"),
    ("builds outside the volume",
     replace("KERNELMAGIC_HOME: /home/jovyan/.cache/kernelmagic", "KERNELMAGIC_HOME: /tmp/km"),
     "KERNELMAGIC_HOME"),
    ("values disagree with the image",
     replace("BUNDLE_DIR: /opt/kernelmagic-hub/bundle", "BUNDLE_DIR: /srv/b"),
     "the image says"),
    ("no hook", drop_lines(r"/states/\*\.state"), "saved state"),
    ("hook looks elsewhere", replace('PREFIX"/states/', 'PREFIX"/saved/'),
     "does not write its saved state into /opt/kernelmagic-hub/saved"),
]


@pytest.mark.parametrize(
    ("edit", "expected"), [(e, x) for _, e, x in BROKEN_VALUES],
    ids=[name for name, _, _ in BROKEN_VALUES],
)  # fmt: skip
def test_broken_values_are_caught(edit: Edit, expected: str) -> None:
    problems = all_problems(CONTAINERFILE.read_text(), edit(VALUES.read_text()))
    assert any(expected in p for p in problems), problems


# -- the start hook, run for real --------------------------------------------------------


def run_hook(prefix: Path, home: Path) -> subprocess.CompletedProcess[str]:
    command = post_start_command(yaml.safe_load(VALUES.read_text()))
    env = {"PATH": os.environ["PATH"], "KERNELMAGIC_HUB_PREFIX": str(prefix),
           "KERNELMAGIC_HOME": str(home / ".cache" / "kernelmagic")}  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_the_start_hook_links_the_image_state_and_keeps_the_learners_own(tmp_path: Path) -> None:
    prefix, home = tmp_path / "prefix", tmp_path / "home"
    (prefix / "states").mkdir(parents=True)
    (prefix / "states" / "a.state").write_bytes(b"image state a")
    (prefix / "states" / "b.state").write_bytes(b"image state b")
    snapshots = home / ".cache" / "kernelmagic" / "snapshots"
    snapshots.mkdir(parents=True)
    (snapshots / "b.state").write_bytes(b"the learner's own b")

    result = run_hook(prefix, home)

    assert result.returncode == 0, result.stderr
    assert (snapshots / "a.state").is_symlink()
    assert (snapshots / "a.state").read_bytes() == b"image state a"
    assert not (snapshots / "b.state").is_symlink()
    assert (snapshots / "b.state").read_bytes() == b"the learner's own b"
    assert (snapshots.stat().st_mode & 0o777) == 0o700
    assert run_hook(prefix, home).returncode == 0  # a second start changes nothing
    assert os.readlink(snapshots / "a.state") == str(prefix / "states" / "a.state")


def test_the_start_hook_never_fails_the_pod(tmp_path: Path) -> None:
    """A failing postStart hook kills the container: without states it must still succeed."""
    result = run_hook(tmp_path / "no-prefix", tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "home" / ".cache" / "kernelmagic" / "snapshots").iterdir()) == []
