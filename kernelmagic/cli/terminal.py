# SPDX-License-Identifier: MIT
"""An interactive guest shell on the VM's serial console (``kernelmagic vm boot``).

The console recorder keeps draining and recording; this only echoes what it records
to the terminal and sends the keys typed. Ctrl-] leaves, as in telnet.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty

from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.vm import LabVM

__all__ = ["ESCAPE", "attach_console"]

ESCAPE = b"\x1d"  # Ctrl-]


def attach_console(vm: LabVM) -> int:
    console = vm.console
    stdin = sys.stdin.fileno()
    interactive = os.isatty(stdin)
    print("guest shell on the console; Ctrl-] leaves and stops the VM", file=sys.stderr)
    saved = termios.tcgetattr(stdin) if interactive else None
    position = console.mark()
    try:
        if interactive:
            tty.setraw(stdin)
        console.write(b"\n")
        while vm.is_running():
            text = console.since(position)
            if text:
                position += len(text)
                os.write(sys.stdout.fileno(), text.replace("\n", "\r\n").encode())
            ready, _, _ = select.select([stdin], [], [], 0.02)
            if ready:
                data = os.read(stdin, 1024)
                if not data and not interactive:
                    # Piped input ended: let the guest answer what it was sent.
                    _drain(console, position, seconds=1.0)
                    break
                if not data or ESCAPE in data:
                    break
                console.write(data)
            else:
                time.sleep(0.005)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
    print("", file=sys.stderr)
    return 0


def _drain(console: ConsoleRecorder, position: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = console.since(position)
        if text:
            position += len(text)
            os.write(sys.stdout.fileno(), text.encode())
        time.sleep(0.05)
