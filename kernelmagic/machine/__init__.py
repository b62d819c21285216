# SPDX-License-Identifier: MIT
"""The lab machine: the VM bundle, QEMU, its guest agent, console and saved states.

Bottom layer: it knows nothing of modules, notebooks or lessons.
"""
