# SPDX-License-Identifier: MIT
"""pyproject.toml and environment.yml must list the same Python packages with the same bounds.

environment.yml is read by a small hand-written reader for the one shape it has (a list of
dependencies, one of them a nested ``pip:`` list), so the test needs no YAML library.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def normalise(name: str) -> str:
    """PEP 503: runs of '-', '_' and '.' are one '-', case does not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(req: str) -> tuple[str, str]:
    """'Foo_Bar >= 1.2' -> ('foo-bar', '>=1.2'); extras and spaces are dropped."""
    m = _REQ.match(req)
    assert m, f"cannot read requirement {req!r}"
    return normalise(m.group(1)), m.group(3).replace(" ", "")


def read_environment_yml(path: Path) -> dict[str, object]:
    """Read name, channels, dependencies and the nested pip list of a conda env file."""
    result: dict[str, object] = {"channels": [], "dependencies": [], "pip": []}
    section: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        if indent == 0:
            key, _, value = text.partition(":")
            section = key
            if value.strip():
                result[key] = value.strip()
            continue
        if not text.startswith("- "):
            raise AssertionError(f"unexpected line in {path.name}: {raw!r}")
        item = text[2:].strip()
        if section == "dependencies" and item == "pip:":
            section = "pip"
            continue
        if section == "pip" and indent <= 2:
            section = "dependencies"
        assert section in ("channels", "dependencies", "pip"), raw
        result[section].append(item)  # type: ignore[union-attr]
    return result


def pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def python_requirements() -> dict[str, str]:
    project = pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    # An extra that names the project itself ("kernelmagic[hub]") only points at another extra.
    pairs = [p for p in map(split_requirement, reqs) if p[0] != normalise(project["name"])]
    names = [n for n, _ in pairs]
    assert len(names) == len(set(names)), f"a package is listed twice: {names}"
    return dict(pairs)


def test_environment_yml_lists_the_pyproject_packages_with_the_same_bounds() -> None:
    env = read_environment_yml(ROOT / "environment.yml")
    pip_items = [i for i in env["pip"] if not i.startswith("-")]  # type: ignore[union-attr]
    pip_reqs = dict(split_requirement(i) for i in pip_items)
    assert len(pip_reqs) == len(pip_items), f"a package is listed twice: {pip_items}"
    assert pip_reqs == python_requirements()


def test_environment_yml_installs_the_project_itself_and_qemu() -> None:
    env = read_environment_yml(ROOT / "environment.yml")
    assert env["name"] == pyproject()["project"]["name"]
    assert "-e ." in env["pip"]  # type: ignore[operator]
    conda = {split_requirement(d.split("::")[-1])[0] for d in env["dependencies"]}  # type: ignore[union-attr]
    assert {"python", "pip", "qemu"} <= conda
    assert "conda-forge" in env["channels"]  # type: ignore[operator]


def test_environment_python_satisfies_requires_python() -> None:
    env = read_environment_yml(ROOT / "environment.yml")
    deps: list[str] = env["dependencies"]  # type: ignore[assignment]
    pins = [d for d in deps if d.partition("=")[0].strip().lower() == "python"]
    assert len(pins) == 1, pins
    env_version = tuple(int(x) for x in pins[0].split("=", 1)[1].split("."))
    floor = pyproject()["project"]["requires-python"].removeprefix(">=")
    assert env_version >= tuple(int(x) for x in floor.split("."))


def test_every_python_package_has_a_lower_bound() -> None:
    for name, spec in python_requirements().items():
        assert spec.startswith(">="), f"{name} has no lower bound: {spec!r}"


def test_reader_understands_the_nested_pip_list(tmp_path: Path) -> None:
    f = tmp_path / "environment.yml"
    f.write_text(
        "# comment\nname: x\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"
        "  - pip:\n      - Foo_Bar>=1.0  # why\n      - -e .\n  - qemu\n"
    )
    env = read_environment_yml(f)
    assert env == {
        "name": "x",
        "channels": ["conda-forge"],
        "dependencies": ["python=3.11", "qemu"],
        "pip": ["Foo_Bar>=1.0", "-e ."],
    }
    assert split_requirement("Foo_Bar>=1.0") == ("foo-bar", ">=1.0")
