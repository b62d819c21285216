# SPDX-License-Identifier: MIT
"""Real kbuild against the VM kernel's build tree (no VM needed; about 1 s per build).

The tree is the built bundle's (or ``$KERNELMAGIC_KBUILD_DIR``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import BuildError
from kernelmagic.kbuild.builder import build_module

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kbuild_dir(bundle: Any) -> Path:
    """The bundle's tree, or ``$KERNELMAGIC_KBUILD_DIR`` to try another one."""
    env = os.environ.get("KERNELMAGIC_KBUILD_DIR")
    tree = Path(env) if env else bundle.kbuild_dir
    assert (tree / "Makefile").is_file(), f"{tree} is not a kbuild tree"
    assert shutil.which("make"), "GNU make is not installed (make setup installs it)"
    return tree


# The course's reference module: what the lessons teach is what is built here.
HELLO_C = (Path(__file__).resolve().parents[2] / "modules" / "hello.c").read_text()


def _no_process(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a cached build must not start any process")


def test_hello_builds_then_comes_from_cache(
    kbuild_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_module("hello", {"hello.c": HELLO_C}, kbuild_dir=kbuild_dir, builds_root=tmp_path)
    assert not first.cached
    assert first.ko_path == first.build_dir / "hello.ko" and first.ko_path.is_file()
    assert first.errors == [] and first.warnings == []
    assert "Skipping BTF generation" in first.log  # harmless, and not a diagnostic
    ko = first.ko_path.read_bytes()
    assert b"parm=name:Who to greet (default: world)" in ko
    assert f"vermagic={first.kernel_release} ".encode() in ko

    monkeypatch.setattr(subprocess, "Popen", _no_process)
    monkeypatch.setattr(subprocess, "run", _no_process)
    second = build_module(
        "hello", {"hello.c": HELLO_C}, kbuild_dir=kbuild_dir, builds_root=tmp_path
    )
    assert second.cached
    assert (second.ko_path, second.key, second.log) == (first.ko_path, first.key, first.log)


def test_c_error_names_file_and_line(kbuild_dir: Path, tmp_path: Path) -> None:
    statement = 'pr_info("Hello, %s!\\n", name);'
    broken = HELLO_C.replace(statement, statement.rstrip(";"))
    assert broken != HELLO_C
    # gcc names the line after the statement, where it finds `return` instead of ';'.
    line = HELLO_C.splitlines().index("\t" + statement) + 2
    with pytest.raises(BuildError) as info:
        build_module("hello", {"hello.c": broken}, kbuild_dir=kbuild_dir, builds_root=tmp_path)
    first = info.value.diagnostics[0]
    assert (first.file, first.line, first.severity) == ("hello.c", line, "error")
    assert str(info.value) == f"hello.c:{line}:9: error: expected ';' before 'return'"
    assert not list(tmp_path.glob("*/result.json"))


def test_gpl_only_symbol_in_proprietary_module_is_a_modpost_error(
    kbuild_dir: Path, tmp_path: Path
) -> None:
    source = r"""#include <linux/module.h>
#include <linux/kobject.h>

static struct kobject *kobj;

static int __init prop_init(void)
{
	kobj = kobject_create_and_add("kernelmagic_test", NULL);
	return kobj ? 0 : -ENOMEM;
}

static void __exit prop_exit(void)
{
	kobject_put(kobj);
}

module_init(prop_init);
module_exit(prop_exit);
MODULE_LICENSE("Proprietary");
"""
    with pytest.raises(BuildError) as info:
        build_module("prop", {"prop.c": source}, kbuild_dir=kbuild_dir, builds_root=tmp_path)
    modpost = [d for d in info.value.diagnostics if d.origin == "modpost"]
    assert any("GPL-only symbol 'kobject_create_and_add'" in d.message for d in modpost)
    assert all(d.severity == "error" and d.file == "prop.ko" for d in modpost)


def test_module_uses_a_symbol_another_learner_module_exports(
    kbuild_dir: Path, tmp_path: Path
) -> None:
    exporter = build_module(
        "exporter",
        {
            "exporter.c": "#include <linux/module.h>\n"
            "int learner_double(int x) { return 2 * x; }\n"
            "EXPORT_SYMBOL_GPL(learner_double);\n"
            'MODULE_LICENSE("GPL");\n'
        },
        kbuild_dir=kbuild_dir,
        builds_root=tmp_path,
    )
    user_sources = {
        "main.c": '#include <linux/module.h>\n#include "user.h"\n'
        "static int __init u_init(void) { return learner_double(0); }\n"
        'module_init(u_init);\nMODULE_LICENSE("GPL");\n',
        "user.h": "int learner_double(int x);\n",
    }
    with pytest.raises(BuildError, match=r'"learner_double" \[user\.ko\] undefined!'):
        build_module("user", user_sources, kbuild_dir=kbuild_dir, builds_root=tmp_path)
    user = build_module(
        "user",
        user_sources,
        kbuild_dir=kbuild_dir,
        builds_root=tmp_path,
        extra_symbols=[exporter.build_dir],
    )
    assert user.ko_path.is_file() and user.errors == []
