# SPDX-License-Identifier: MIT
"""Operations on a running guest: loading modules, reading the kernel log, guest facts.

``kmod`` loads, unloads and lists modules (with parameter quoting); ``refusals`` turns a
refused operation into a hint; ``kernel_log`` reads and parses the kernel log;
``modinfo`` reads a module's metadata; ``facts`` reads the guest's state. Everything
here talks to the guest through the small ``protocol.Guest``, so a fake guest serves
the unit tests.
"""

__all__: list[str] = []
