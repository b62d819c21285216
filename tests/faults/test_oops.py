# SPDX-License-Identifier: MIT
"""Oopses a learner's module causes, as the learner sees them in the notebook.

Each test names its fault; each checks the one-line summary (kind, function, the line of
the learner's cell), the plain words, and that the next cell works.
"""

from __future__ import annotations

import re
import time

import pytest

from kernelmagic.errors import GuestCommandError, KernelCrashed, ModuleError, VMNotRunning
from kernelmagic.notebook.views import CrashView, LoadResult, ModuleErrorView, Notice
from tests.faults.conftest import FaultLab, line_of

pytestmark = pytest.mark.integration

HEALTHY = """#include <linux/module.h>
static int __init kmf_ok_init(void) { pr_info("kmf_ok: fine\\n"); return 0; }
static void __exit kmf_ok_exit(void) { }
module_init(kmf_ok_init);
module_exit(kmf_ok_exit);
MODULE_LICENSE("GPL");
"""

NULL_INIT = """#include <linux/module.h>

static int __init kmf_null_init(void)
{
\tint *volatile p = NULL;

\tpr_info("kmf_null: about to write through NULL\\n");
\t*p = 42;
\treturn 0;
}
module_init(kmf_null_init);
MODULE_LICENSE("GPL");
"""


def crash_view(lab: FaultLab) -> CrashView:
    views = lab.views(CrashView)
    assert views, lab.text()
    return views[-1]


def next_cell_works(lab: FaultLab) -> None:
    """A healthy module builds, loads and unloads after the fault."""
    result = lab.ok(f"%%kmodule kmf_ok --load\n{HEALTHY}")
    assert result.load is not None and "kmf_ok: fine" in result.load.log
    lab.ok("%rmmod kmf_ok")


def test_null_deref_in_init(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_null\n{NULL_INIT}")
    error = lab.fails("%insmod kmf_null", ModuleError)
    line = line_of(NULL_INIT, "*p = 42;")
    view = crash_view(lab)
    summary = repr(view).splitlines()[0]
    assert summary.startswith("kernel oops in kmf_null_init+0x")
    assert summary.endswith(f", line {line} of %%kmodule kmf_null: a NULL pointer dereference")
    text = repr(view)
    assert re.search(rf"^    > +{line} \|     \*p = 42;$", text, re.M), text
    assert "in the module's init function (during insmod)" in text
    assert "tainted (D: it died once)" in text and "%vm restart" in text
    assert "<details><summary>report (" in view._repr_html_()
    assert not lab.views(ModuleErrorView)  # one output for one failure
    assert "137 = 128 + signal 9" in error._render_traceback_()[0]  # type: ignore[attr-defined]
    next_cell_works(lab)


def test_reload_after_oops_in_init(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_null\n{NULL_INIT}")
    lab.fails("%insmod kmf_null", ModuleError)
    assert lab.ok("%lsmod kmf_null").modules[0].state == "Loading"
    fixed = NULL_INIT.replace("\t*p = 42;\n", "\tp = &(int){42};\n")
    result = lab.ok(f"%%kmodule kmf_null --load\n{fixed}")
    load = result.load
    assert isinstance(load, LoadResult)
    assert load.notices and "restart" in load.notices[0], repr(load)
    assert "kmf_null: about to write through NULL" in load.log
    assert lab.ok("%lsmod kmf_null").modules[0].state == "Live"


EXIT = """#include <linux/module.h>

static int *data;

static int __init kmf_exit_init(void)
{
\treturn 0;
}

static void __exit kmf_exit_exit(void)
{
\tpr_info("kmf_exit: last value %d\\n", *data);
}
module_init(kmf_exit_init);
module_exit(kmf_exit_exit);
MODULE_LICENSE("GPL");
"""


def test_oops_in_exit(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_exit --load\n{EXIT}")
    lab.fails("%rmmod kmf_exit", ModuleError)
    line = line_of(EXIT, "last value")
    text = repr(crash_view(lab))
    assert text.splitlines()[0].startswith("kernel oops in kmf_exit_exit+0x")
    assert f"line {line} of %%kmodule kmf_exit: a NULL pointer dereference" in text
    assert "in the module's exit function (during rmmod)" in text
    assert lab.ok("%lsmod kmf_exit").modules[0].state == "Unloading"
    lab.fails("%rmmod kmf_exit", ModuleError)
    assert "can never be unloaded in this boot" in lab.text() and "%vm restart" in lab.text()
    assert "restarted with a fresh kernel" in repr(lab.ok("%vm restart"))
    next_cell_works(lab)


UPTR = """#include <linux/module.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/string.h>

static char text[64];

static ssize_t kmf_uptr_write(struct file *file, const char __user *buf, size_t count,
\t\t\t      loff_t *ppos)
{
\tif (count > sizeof(text))
\t\tcount = sizeof(text);
\tmemcpy(text, buf, count);
\treturn count;
}

static const struct file_operations kmf_uptr_fops = {
\t.owner = THIS_MODULE,
\t.write = kmf_uptr_write,
};

static struct miscdevice kmf_uptr_dev = {
\t.minor = MISC_DYNAMIC_MINOR,
\t.name = "kmf_uptr",
\t.fops = &kmf_uptr_fops,
\t.mode = 0666,
};

static int __init kmf_uptr_init(void)
{
\treturn misc_register(&kmf_uptr_dev);
}

static void __exit kmf_uptr_exit(void)
{
\tmisc_deregister(&kmf_uptr_dev);
}
module_init(kmf_uptr_init);
module_exit(kmf_uptr_exit);
MODULE_LICENSE("GPL");
"""


def test_user_pointer_in_write_handler(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_uptr --load\n{UPTR}")
    lab.fails("%vmsh echo hello > /dev/kmf_uptr", GuestCommandError)
    line = line_of(UPTR, "memcpy(text, buf, count);")
    text = repr(crash_view(lab))
    summary = text.splitlines()[0]
    assert summary.startswith("kernel oops in kmf_uptr_write+0x")
    assert f"line {line} of %%kmodule kmf_uptr: the kernel dereferenced a user-space pointer" in (
        summary
    )
    assert "copy_from_user() / copy_to_user()" in text
    assert "in a write() file operation" in text
    assert repr(lab.ok("%vmsh echo still here")) == "still here"


TIMER = """#include <linux/module.h>
#include <linux/timer.h>

static struct timer_list tick;
static int *counter;

static void kmf_timer_fire(struct timer_list *t)
{
\t(*counter)++;
}

static int __init kmf_timer_init(void)
{
\ttimer_setup(&tick, kmf_timer_fire, 0);
\tmod_timer(&tick, jiffies + HZ / 10);
\treturn 0;
}

static void __exit kmf_timer_exit(void)
{
\tdel_timer_sync(&tick);
}
module_init(kmf_timer_init);
module_exit(kmf_timer_exit);
MODULE_LICENSE("GPL");
"""


def test_oops_in_timer_callback(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_timer --load\n{TIMER}")  # returns before the timer fires
    vm = lab.session.running_vm
    assert vm is not None
    deadline = time.monotonic() + 15
    while vm.is_running() and time.monotonic() < deadline:  # the learner reads, then...
        time.sleep(0.1)
    lab.shown.clear()
    lab.ok("%lsmod")  # ...runs the next cell
    late, restarted = lab.shown[:2]
    assert isinstance(late, CrashView) and late.late, lab.text()
    text = repr(late)
    line = line_of(TIMER, "(*counter)++;")
    assert text.splitlines()[0] == "after an earlier cell had returned, the kernel reported:"
    assert f"kmf_timer_fire+0x5, line {line} of %%kmodule kmf_timer" in text.splitlines()[1]
    assert "in a timer callback (interrupt context)" in text
    assert isinstance(restarted, Notice) and "restarted after the kernel crash" in repr(restarted)
    next_cell_works(lab)


WORK = """#include <linux/module.h>
#include <linux/workqueue.h>

static int *counter;

static void kmf_work_run(struct work_struct *work)
{
\t(*counter)++;
}

static DECLARE_DELAYED_WORK(job, kmf_work_run);

static int __init kmf_work_init(void)
{
\tschedule_delayed_work(&job, HZ / 10);
\treturn 0;
}

static void __exit kmf_work_exit(void)
{
\tcancel_delayed_work_sync(&job);
}
module_init(kmf_work_init);
module_exit(kmf_work_exit);
MODULE_LICENSE("GPL");
"""


def wait_for_report(lab: FaultLab, name: str, seconds: float = 15.0) -> None:
    """Wait (as a learner reads) until the console has a report naming ``name``.

    The work item runs 0.1 s of guest time later; on a busy host under TCG that can be
    seconds of ours. The report is not consumed: the next cell must still show it.
    """
    vm = lab.session.running_vm
    assert vm is not None
    deadline = time.monotonic() + seconds
    while not any(name in r.report for r in vm.console.crashes) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the rest of the report


def test_oops_in_work_item_shows_at_the_next_cell_and_in_dmesg(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_work --load\n{WORK}")
    wait_for_report(lab, "kmf_work_run")  # its oops kills only the kworker
    lab.shown.clear()
    log = lab.ok("%dmesg -n 80")
    late = lab.shown[0]
    assert isinstance(late, CrashView) and late.late, lab.text()
    line = line_of(WORK, "(*counter)++;")
    assert f"kmf_work_run+0x5, line {line} of %%kmodule kmf_work" in repr(late)
    assert "in a work item (run by a kworker thread)" in repr(late)
    assert f">> kernel oops in kmf_work_run+0x5, line {line} of %%kmodule kmf_work" in repr(log)
    assert "<details>" in log._repr_html_()
    lab.ok("%vm restart")
    next_cell_works(lab)


def test_oops_a_moment_after_its_load_returned_is_shown_once(lab: FaultLab) -> None:
    # One jiffy later: the report is still streaming on the console as the cell returns.
    soon = WORK.replace("HZ / 10", "1").replace("kmf_work", "kmf_soon")
    lab.ok(f"%%kmodule kmf_soon --load\n{soon}")
    wait_for_report(lab, "kmf_soon_run")
    lab.ok("%lsmod")
    shown = [v for v in lab.views(CrashView) if "kmf_soon_run+0x" in repr(v)]
    assert len(shown) == 1, lab.text()
    lab.ok("%vm restart")
    next_cell_works(lab)


HELPER = """#include <linux/printk.h>
#include "kmf_multi.h"

void kmf_multi_store(int *where, int value)
{
\tpr_info("kmf_multi: storing %d\\n", value);
\t*where = value;
}
"""
MULTI = """#include <linux/module.h>
#include "kmf_multi.h"

static int __init kmf_multi_init(void)
{
\tkmf_multi_store(NULL, 42);
\treturn 0;
}
module_init(kmf_multi_init);
MODULE_LICENSE("GPL");
"""


def test_oops_in_multi_file_module(lab: FaultLab) -> None:
    lab.ok("%%kfile kmf_multi/kmf_multi.h\nvoid kmf_multi_store(int *where, int value);\n")
    lab.ok(f"%%kfile kmf_multi/helper.c\n{HELPER}")
    lab.ok(f"%%kmodule kmf_multi\n{MULTI}")
    lab.fails("%insmod kmf_multi", ModuleError)
    text = repr(crash_view(lab))
    file_line = line_of(HELPER, "*where = value;", first_line=1)
    summary = text.splitlines()[0]
    assert summary.startswith("kernel oops in kmf_multi_store+0x")
    assert (
        f"helper.c:{file_line} (cell line {file_line + 1} of %%kfile kmf_multi/helper.c)" in summary
    )
    caller = line_of(MULTI, "kmf_multi_store(NULL, 42);")
    assert "kmf_multi_init+0x" in text and f"line {caller} of %%kmodule kmf_multi" in text
    next_cell_works(lab)


PANIC = """#include <linux/module.h>

static int __init kmf_panic_init(void)
{
\tpanic("kmf_panic: on purpose");
\treturn 0;
}
module_init(kmf_panic_init);
MODULE_LICENSE("GPL");
"""


def test_a_panic_restarts_the_vm_and_shows_the_report(lab: FaultLab) -> None:
    lab.ok(f"%%kmodule kmf_panic\n{PANIC}")
    lab.fails("%insmod kmf_panic", (KernelCrashed, VMNotRunning))
    text = repr(crash_view(lab))
    assert text.splitlines()[0].startswith("kernel panic")
    assert "restarts with your next command" in text
    next_cell_works(lab)
