# SPDX-License-Identifier: MIT
"""Code that never comes back: a busy loop, a sleep loop, a store() that takes nothing.

What the learner must see: where it is stuck, at the line of their cell; the VM
restarted where a module can never be removed (init, exit), kept where a command can
be killed (``%vmsh``); an interrupt that ends the cell at once; and a next cell that
works.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from kernelmagic.errors import KernelCrashed, OperationStuck, VMNotRunning
from kernelmagic.notebook.views import CrashView, LoadResult, StuckView
from tests.faults.conftest import FaultLab, line_of

pytestmark = pytest.mark.integration

SPIN = """#include <linux/module.h>

static int __init kmf_spin_init(void)
{
\tpr_info("kmf_spin: waiting for ever\\n");
\twhile (1)
\t\tcpu_relax();
\treturn 0;
}
module_init(kmf_spin_init);
MODULE_LICENSE("GPL");
"""


def test_busy_loop_in_init(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_spin\n{SPIN}")
    lab.fails("%insmod kmf_spin", (KernelCrashed, VMNotRunning))
    view = lab.views(CrashView)[-1]
    text = repr(view)
    summary = text.splitlines()[0]
    # Reported by the kernel's watchdog (soft lockup, RCU stall), or, when the guest
    # went silent first, by the lab's NMI (a panic that shows where the CPU was).
    kind = summary.split(" in kmf_spin_init+0x")[0]
    assert kind in ("kernel soft lockup", "kernel rcu stall", "kernel panic"), summary
    assert f"line {line_of(SPIN, 'cpu_relax();')} of %%kmodule kmf_spin" in summary
    assert "(a busy loop" in summary and "must sleep" in text
    fixed = SPIN.replace("\twhile (1)\n\t\tcpu_relax();\n", "")
    result = lab.ok(f"%%kmodule kmf_spin --load\n{fixed}")
    assert "kmf_spin: waiting for ever" in result.load.log


SLEEP_INIT = """#include <linux/module.h>
#include <linux/delay.h>

static int __init kmf_sleep_init(void)
{
\tpr_info("kmf_sleep: waiting\\n");
\twhile (1)
\t\tmsleep(1000);
\treturn 0;
}
module_init(kmf_sleep_init);
MODULE_LICENSE("GPL");
"""


def test_msleep_loop_in_init(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_sleep\n{SLEEP_INIT}")
    error = lab.fails("%insmod kmf_sleep --timeout 3", OperationStuck)
    assert error.restarted  # type: ignore[attr-defined]
    view = lab.views(StuckView)[-1]
    text = repr(view)
    line = line_of(SLEEP_INIT, "msleep(1000);")
    assert text.splitlines()[0].startswith(
        "insmod kmf_sleep: its init function has not returned (it sleeps in msleep"
    ), text
    assert "stuck in kmf_sleep_init+0x" in text and f"line {line} of %%kmodule kmf_sleep" in text
    assert "  state  D" in text
    assert "the lab VM was restarted" in text and "are gone" in text
    fixed = SLEEP_INIT.replace("\twhile (1)\n", "")
    result = lab.ok(f"%%kmodule kmf_sleep --load\n{fixed}")
    assert isinstance(result.load, LoadResult) and "kmf_sleep: waiting" in result.load.log


SLEEP_EXIT = """#include <linux/module.h>
#include <linux/delay.h>

static int __init kmf_sleepx_init(void)
{
\treturn 0;
}

static void __exit kmf_sleepx_exit(void)
{
\tpr_info("kmf_sleepx: leaving\\n");
\twhile (1)
\t\tmsleep(1000);
}
module_init(kmf_sleepx_init);
module_exit(kmf_sleepx_exit);
MODULE_LICENSE("GPL");
"""


def test_msleep_loop_in_exit(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_sleepx --load\n{SLEEP_EXIT}")
    lab.fails("%rmmod kmf_sleepx --timeout 3", OperationStuck)
    text = repr(lab.views(StuckView)[-1])
    line = line_of(SLEEP_EXIT, "msleep(1000);")
    assert text.startswith("rmmod kmf_sleepx: its exit function has not returned"), text
    assert f"line {line} of %%kmodule kmf_sleepx" in text
    assert "the lab VM was restarted" in text
    assert "kmf_sleepx" not in lab.ok("%lsmod")  # a fresh kernel
    lab.ok("%insmod kmf_sleepx")


STORE = """#include <linux/module.h>
#include <linux/kobject.h>
#include <linux/sysfs.h>

static struct kobject *kobj;
static int value;

static ssize_t value_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
\treturn sysfs_emit(buf, "%d\\n", value);
}

static ssize_t value_store(struct kobject *k, struct kobj_attribute *a, const char *buf,
\t\t\t   size_t count)
{
\tif (kstrtoint(buf, 10, &value))
\t\treturn -EINVAL;
\treturn 0;
}

static struct kobj_attribute value_attr = __ATTR_RW(value);

static int __init kmf_store_init(void)
{
\tkobj = kobject_create_and_add("kmf_store", kernel_kobj);
\tif (!kobj)
\t\treturn -ENOMEM;
\treturn sysfs_create_file(kobj, &value_attr.attr);
}

static void __exit kmf_store_exit(void)
{
\tkobject_put(kobj);
}
module_init(kmf_store_init);
module_exit(kmf_store_exit);
MODULE_LICENSE("GPL");
"""


def test_vmsh_command_that_never_returns(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_store --load\n{STORE}")
    error = lab.fails("%vmsh --timeout 3 echo 42 > /sys/kernel/kmf_store/value", OperationStuck)
    assert not error.restarted  # type: ignore[attr-defined]
    text = repr(lab.views(StuckView)[-1])
    assert text.startswith("echo 42 > /sys/kernel/kmf_store/value: the command has not finished")
    assert "store() or write() returning 0" in text
    assert text.endswith("the command was killed; the lab VM keeps running")
    assert repr(lab.ok("%vmsh cat /sys/kernel/kmf_store/value")) == "42"
    assert "kmf_store" in lab.ok("%lsmod")  # the VM was kept


def test_interrupt_during_insmod(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_sleep\n{SLEEP_INIT}")
    lab.ok("%vm start")
    # A Jupyter kernel turns SIGINT into KeyboardInterrupt (the stop button); an earlier
    # test in this process may have left another disposition, so this one sets it.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        result = lab.run("%insmod kmf_sleep --timeout 30")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    took = time.monotonic() - started
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    line = result.error_in_exec._render_traceback_()[0]
    assert "%insmod interrupted while insmod kmf_sleep ran" in line
    assert took < 30  # ended by the interrupt, not by the deadline
    fixed = SLEEP_INIT.replace("\twhile (1)\n", "")
    loaded = lab.ok(f"%%kmodule kmf_sleep --load\n{fixed}").load
    assert loaded.notices and "restart" in " ".join(loaded.notices), repr(loaded)
    assert "kmf_sleep: waiting" in loaded.log
