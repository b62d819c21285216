# SPDX-License-Identifier: MIT
"""The lab machine's configuration: checked values, described in words, in the QEMU line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import UsageError
from kernelmagic.machine import cmdline
from kernelmagic.machine.config import MachineConfig, qemu_device_models


def test_defaults_are_two_vcpus_and_no_devices() -> None:
    config = MachineConfig()
    assert (config.cpus, config.memory_mb, config.devices) == (2, 256, ())
    assert config.describe() == "2 vCPUs, 256 MiB"


def test_changes_keep_what_is_not_given() -> None:
    config = MachineConfig().with_changes(devices=["edu"])
    assert config == MachineConfig(2, 256, ("edu",))
    assert config.with_changes(cpus=1).describe() == "1 vCPU, 256 MiB, device edu"
    assert config.with_changes(devices=["none"]).devices == ()
    assert config.with_changes(devices=[]).devices == ()
    assert config.with_changes(devices="edu").devices == ("edu",)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"cpus": 0}, "1 to 8 vCPUs"),
        ({"cpus": 9}, "1 to 8 vCPUs"),
        ({"cpus": True}, "1 to 8 vCPUs"),
        ({"memory_mb": 64}, "from 128 to 4096"),
        ({"devices": ["edu,id=x"]}, "options after a comma are not taken"),
        ({"devices": ["virtio-9p-pci"]}, "does not take this device"),
        ({"devices": ["edu", "edu"]}, "names a device twice"),
    ],
)
def test_bad_values_are_one_clear_line(change: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        MachineConfig().with_changes(**change)  # type: ignore[arg-type]


@pytest.mark.skipif(not qemu_device_models(), reason="QEMU is not installed")
def test_an_unknown_device_is_refused_by_qemus_own_list() -> None:
    assert "edu" in qemu_device_models()
    with pytest.raises(UsageError, match="QEMU here has no device of that name"):
        MachineConfig().with_changes(devices=["no-such-device"])


def test_devices_follow_the_labs_own_on_the_qemu_line() -> None:
    argv = cmdline.qemu_argv(
        qemu="qemu", accel="tcg", tcg_cpu="max", memory_mb=512, cpus=2, devices=("edu",),
        kernel=Path("/k"), initrd=Path("/i"), append="", share=Path("/s"),
        fds=cmdline.PLACEHOLDER_FDS,
    )  # fmt: skip
    assert argv[-2:] == ["-device", "edu"]
    assert argv[argv.index("-smp") + 1] == "2" and argv[argv.index("-m") + 1] == "512M"


def test_extra_devices_are_reprobed_at_the_slots_after_the_labs_own() -> None:
    config = MachineConfig(devices=("edu", "pci-testdev"))
    assert config.device_addresses() == ["0000:00:03.0", "0000:00:04.0"]
    argv = config.reprobe_argv()
    assert argv[:2] == ["/bin/sh", "-c"] and argv[-2:] == config.device_addresses()
    assert "/sys/bus/pci/rescan" in argv[2]
