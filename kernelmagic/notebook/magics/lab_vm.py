# SPDX-License-Identifier: MIT
"""``%vm``: the lab VM itself: its status, start, stop, restart, and its console log."""

from __future__ import annotations

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from kernelmagic.errors import VMNotRunning
from kernelmagic.guest.facts import read_guest_facts
from kernelmagic.notebook.magics._common import (
    ArgumentError,
    LabMagics,
    learner_errors,
    parse,
    user_values,
)
from kernelmagic.notebook.views import ConsoleView, Notice, VMStatusCard

__all__ = ["VMMagics"]

ACTIONS = ("status", "start", "stop", "restart", "log")


@magics_class
class VMMagics(LabMagics):
    @line_magic
    @learner_errors("%vm")
    @magic_arguments()
    @argument(
        "action",
        nargs="?",
        default="status",
        choices=ACTIONS,
        help="status (the default; never starts the VM), start, stop, restart, log",
    )
    @argument(
        "-n",
        type=int,
        default=40,
        metavar="N",
        help="with log: how many console lines to show (default 40)",
    )
    @argument(
        "--device",
        action="append",
        metavar="MODEL",
        help="with start or restart: add QEMU device MODEL (e.g. edu; repeat for more; "
        "none removes them)",
    )
    @argument("--smp", type=int, metavar="N", help="with start or restart: N vCPUs (default 2)")
    @argument(
        "--memory", type=int, metavar="MIB", help="with start or restart: memory in MiB (256)"
    )
    def vm(self, line: str) -> VMStatusCard | Notice | ConsoleView:  # fmt: skip
        """The lab VM: a status card, or start, stop, restart it, or read its console.

        The status card shows the accelerator and why it was chosen, the kernel,
        uptime, memory, the loaded modules and the kernel's taint flags in words;
        ``status`` never starts a stopped VM (``start`` does).
        ``restart`` gives a clean kernel (after an oops, say); modules loaded or
        installed in the guest are gone, your builds stay. ``log`` shows the serial
        console, which still holds a crashed kernel's last words. Example::

            %vm status
            %vm restart
            %vm start --device edu
            %vm log -n 80

        ``--device``, ``--smp`` and ``--memory`` choose the machine for the rest of the
        notebook; a running VM of another machine is restarted with the new one.
        """
        args = parse(self.vm, line)
        session = self.session
        machine = {"devices": args.device, "cpus": args.smp, "memory_mb": args.memory}
        asked = any(value is not None for value in machine.values())
        if asked and args.action not in ("start", "restart"):
            raise ArgumentError(f"%vm {args.action}: --device, --smp and --memory go with "
                                "start or restart")  # fmt: skip
        if args.action in ("start", "restart"):
            with user_values(f"%vm {args.action}"):
                session.config.with_changes(**machine)  # checked before anything stops
            restarted = session.configure(**machine)
            if restarted is not None:
                return restarted
            return session.start() if args.action == "start" else session.restart()
        if args.action == "stop":
            return session.stop()
        if args.action == "log":
            return self._console(max(1, args.n))
        vm = session.running_vm
        if vm is None:  # a status card shows the VM as it is: stopped stays stopped
            return VMStatusCard(session.idle_status())
        return VMStatusCard(vm.status(), read_guest_facts(vm))

    def _console(self, n: int) -> ConsoleView | Notice:
        vm = self.session.last_vm
        try:
            lines = vm.console.tail(n) if vm is not None else None
        except VMNotRunning:  # a VM object whose console never started
            lines = None
        if lines is None:
            return Notice("the lab VM has not run yet in this kernel: no console to show")
        note = "" if self.session.running_vm else "the lab VM is not running; its last console:"
        return ConsoleView(lines, note)
