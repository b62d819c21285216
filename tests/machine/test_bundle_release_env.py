# SPDX-License-Identifier: MIT
"""Another kernel's bundle for one process tree, without moving the machine's lab.

A batch run with ``--kernel-version`` builds that bundle with ``make_current=False`` and
gives its Jupyter kernels ``KERNELMAGIC_KERNEL_VERSION``, which ``Bundle.load`` honours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import BundleMissing
from kernelmagic.machine.bundle import RELEASE_ENV, Bundle, build_bundle, recipe_digest
from tests.machine.test_bundle import RELEASE, make_bundle, no_apt, recipe  # noqa: F401

NEWER = "6.12.107+deb12-amd64"


def test_the_variable_picks_the_bundle(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_bundle(home)
    newer = make_bundle(home, NEWER, current=False)
    assert Bundle.load().kernel_release == RELEASE
    monkeypatch.setenv(RELEASE_ENV, NEWER)
    assert Bundle.load().root == newer
    assert Bundle.load(RELEASE).kernel_release == RELEASE  # an explicit release still wins
    monkeypatch.setenv(RELEASE_ENV, "6.99.0-1-amd64")
    with pytest.raises(BundleMissing, match=r"kernelmagic vm build --kernel-version 6\.99\.0-1"):
        Bundle.load()


def test_a_bundle_built_for_a_batch_leaves_current_alone(
    home: Path,
    recipe: Path,  # noqa: F811
    no_apt: None,  # noqa: F811
) -> None:
    make_bundle(home, recipe_sha256=recipe_digest(recipe))
    make_bundle(home, NEWER, current=False, recipe_sha256=recipe_digest(recipe))
    bundle = build_bundle(NEWER, recipe=recipe, make_current=False)
    assert bundle.kernel_release == NEWER
    assert (home / "bundle" / "current").read_text() == RELEASE + "\n"
    build_bundle(NEWER, recipe=recipe)  # the default moves it, as `vm build` does
    assert (home / "bundle" / "current").read_text() == NEWER + "\n"
