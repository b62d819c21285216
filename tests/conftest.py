# SPDX-License-Identifier: MIT
"""Shared fixtures. Integration tests need the built VM bundle (``make setup`` builds it).

Without a bundle they fail rather than skip, so a CI run that lost its setup step cannot
pass quietly; set KERNELMAGIC_SKIP_VM=1 to skip them on purpose (say, on a laptop
without the bundle).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kernelmagic.bundle import Bundle
from kernelmagic.errors import SetupError
from kernelmagic.vm import LabVM


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    if os.environ.get("KERNELMAGIC_SKIP_VM") == "1":
        pytest.skip("KERNELMAGIC_SKIP_VM=1")
    try:
        return Bundle.load()
    except SetupError as exc:
        pytest.fail(f"integration tests need the VM bundle: {exc}")


@pytest.fixture(scope="module")
def lab_vm(bundle: Bundle) -> Iterator[LabVM]:
    """One VM for a test module; always stopped, whatever the tests did to it."""
    vm = LabVM(bundle)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()
