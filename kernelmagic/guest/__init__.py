# SPDX-License-Identifier: MIT
"""Operations on a running guest: loading modules, reading the kernel log, guest facts.

``kmod`` loads, unloads and lists modules (with parameter quoting); ``modop`` runs
insmod and rmmod as one exchange with the guest helper; ``watched`` gives guest
commands a deadline and finds where a stuck one waits; ``shell`` runs a learner's own
shell command with one; ``refusals`` turns a refused operation into a hint;
``kernel_log`` reads and parses the kernel log; ``modinfo`` reads a module's metadata;
``facts`` reads the guest's state. Everything here talks to the guest through the
small ``protocol.Guest``, so a fake guest serves the unit tests.
"""

__all__: list[str] = []
