# SPDX-License-Identifier: MIT
"""The package's layers: arrows point down, no cycles, IPython only in the notebook layer.

The layers, lowest first::

    shared helpers (errors, paths, procs, files, names)
    machine < kbuild < guest < workspace < course < batch < hub < notebook < cli

A module may import its own layer and the layers below it. The CLI (and the package's
own ``__init__``, whose lazy names reach every layer) may import the notebook layer
only inside functions, so the command works where IPython is not installed. Imports
are read with ``ast``, those inside functions included; every module outside the
notebook layer is also imported for real, in a fresh interpreter in which IPython,
ipykernel and ipywidgets cannot be imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kernelmagic"
NOTEBOOK_ONLY = ("IPython", "ipykernel", "ipywidgets")

#: Layer of each top-level part of the package, lowest first.
LAYERS = {
    "errors": 0,
    "paths": 0,
    "procs": 0,
    "files": 0,
    "names": 0,
    "machine": 1,
    "kbuild": 2,
    "guest": 3,
    "workspace": 4,
    "course": 5,
    "batch": 6,  # papermill batch runs; reads the course's cell tags, needs no IPython
    "hub": 7,  # the course server: install, learner launcher, spawner; no IPython
    "notebook": 8,
    "cli": 9,
    "": 9,  # kernelmagic/__init__.py: the lazy public names and load_ipython_extension
}
NOTEBOOK = LAYERS["notebook"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if "labextension" not in p.parts  # the lab extension's sources are not Python modules
}


def layer_of(module: str) -> int:
    """The layer of a module of the package; an unknown top-level part fails the test."""
    part = module.split(".")[1] if "." in module else ""
    if part not in LAYERS:
        pytest.fail(f"{module} is in no layer: add {part!r} to LAYERS in {__file__}")
    return LAYERS[part]


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported, resolved as far as the files tell
    line: int
    in_function: bool
    type_checking: bool


def _lazy_names() -> dict[str, str]:
    """``kernelmagic._LAZY``: ``from kernelmagic import X`` imports X's own module."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    return {}


LAZY = _lazy_names()


def _resolve(base: str, name: str | None) -> str:
    """``from base import name``: the submodule if ``name`` is one, else ``base``."""
    if name is not None and f"{base}.{name}" in MODULES:
        return f"{base}.{name}"
    if base == "kernelmagic" and name in LAZY:
        return LAZY[name]
    return base


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str) -> list[Import]:
    """Every import statement of ``module``, wherever it is in the file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, node.lineno, in_function, type_checking))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: the style is absolute, but read them right anyway
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                target = _resolve(base, alias.name)
                found.append(Import(module, target, node.lineno, in_function, type_checking))
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            guarded = type_checking or (isinstance(node, ast.If) and _is_type_checking(node))
            visit(child, nested, guarded)

    visit(ast.parse(path.read_text(), str(path)), False, False)
    return found


ALL_IMPORTS = [imp for module in MODULES for imp in imports_of(module)]


def _ours(target: str) -> bool:
    return target == "kernelmagic" or target.startswith("kernelmagic.")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_arrows_point_down() -> None:
    wrong = []
    for imp in ALL_IMPORTS:
        if not _ours(imp.target) or imp.target == "kernelmagic":
            continue
        low, high = layer_of(imp.target), layer_of(imp.importer)
        if low <= high:
            allowed = not (
                low == NOTEBOOK and high > NOTEBOOK and not imp.in_function
            )  # the CLI reaches the notebook layer only inside functions
            if allowed:
                continue
        where = "inside a function" if imp.in_function else "at module level"
        wrong.append(
            f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}: {imp.importer} "
            f"imports {imp.target} {where}"
        )
    assert not wrong, "imports that point up (or reach the notebook layer at module level):\n" + (
        "\n".join(wrong)
    )


def test_only_the_notebook_layer_names_ipython() -> None:
    wrong = [
        f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}: imports {imp.target}"
        for imp in ALL_IMPORTS
        if imp.target.split(".")[0] in NOTEBOOK_ONLY and layer_of(imp.importer) != NOTEBOOK
    ]
    assert not wrong, "\n".join(wrong)


def _module_level_graph() -> dict[str, set[str]]:
    """Who imports whom when a module is first imported (not in functions, not for typing)."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in ALL_IMPORTS:
        if imp.in_function or imp.type_checking or imp.target not in MODULES:
            continue
        if imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_at_module_level() -> None:
    cycles = _cycles(_module_level_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


# -- importing for real, without IPython --------------------------------------------------

BLOCKER = f"""
import importlib, importlib.abc, sys

BLOCKED = {NOTEBOOK_ONLY!r}
tried = []


class Unimportable(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            tried.append(name)
            raise ImportError(f"{{name}} is made unimportable for this test")
        return None


sys.meta_path.insert(0, Unimportable())
"""

IMPORT_ONE = (
    BLOCKER
    + """
importlib.import_module(sys.argv[1])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
if tried or loaded:
    sys.exit(f"{sys.argv[1]} tried to import {tried or loaded}")
"""
)

OUTSIDE_NOTEBOOK = [
    m
    for m in MODULES
    if layer_of(m) != NOTEBOOK and not m.endswith(".__main__")  # __main__ runs; see below
]


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("module", OUTSIDE_NOTEBOOK)
def test_imports_without_ipython(module: str) -> None:
    run = _run(IMPORT_ONE, module)
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_blocker_blocks() -> None:
    run = _run(IMPORT_ONE, "kernelmagic.notebook.magics")
    assert run.returncode != 0 and "made unimportable" in run.stderr


def test_the_command_runs_without_ipython() -> None:
    code = BLOCKER + (
        "import runpy\n"
        "sys.argv = ['kernelmagic', 'course', 'student', '--help']\n"
        "runpy.run_module('kernelmagic.cli', run_name='__main__')\n"
    )
    run = _run(code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "kernelmagic course student" in run.stdout
