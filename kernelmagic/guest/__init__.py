# SPDX-License-Identifier: MIT
"""Operations on a running guest: loading modules, reading the kernel log, guest facts.

Everything here talks to the guest through the small ``Guest`` protocol, so a fake
guest serves the unit tests.
"""
