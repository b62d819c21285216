# SPDX-License-Identifier: MIT
"""The lab machine: the VM bundle, QEMU, its guest agent, console and saved states.

Bottom layer: it knows nothing of modules, notebooks or lessons. Its modules, by what
they are about:

* the bundle: ``bundle`` (what it holds, building it), ``debian`` (apt and dpkg),
  ``staging`` (kernel image, guest root, kbuild tree), ``initramfs`` (the cpio
  archive), ``tools`` (running host tools with a deadline);
* the VM: ``vm`` (``LabVM``), ``cmdline`` (QEMU's and the kernel's command lines),
  ``process`` (one QEMU process that leaves nothing behind), ``accel`` (KVM or TCG),
  ``snapshot`` (saved booted states), ``share`` (the 9p share of build outputs);
* talking to it: ``agent`` (qemu-guest-agent), ``exec_result`` (what a guest command
  gave back), ``qmp`` (QEMU's monitor), ``jsonlines`` (the JSON reader both use);
* watching it: ``console`` (the serial console recorder), ``crash`` (the pure crash
  report parser), ``watch`` (when to stop waiting for a guest that died),
  ``stuck_cpu`` (making a CPU that never comes back report itself), ``hung_task``
  (a hung task's stack, which the console does not get), ``health`` (whether a fresh
  boot's timers let a stuck CPU be found).
"""
