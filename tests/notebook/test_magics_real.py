# SPDX-License-Identifier: MIT
"""Every magic through a real IPython shell, against the real lab VM and real kbuild.

One VM for the whole module (it boots in a few seconds under TCG); the tests run in
file order and some build on earlier ones (the provider before the consumer), as the
cells of a lesson do. The fixture always stops the VM, and checks that it did.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, GuestCommandError, ModuleError
from kernelmagic.machine.bundle import Bundle
from kernelmagic.notebook.views import (
    BuildFailure,
    CrashView,
    KModuleResult,
    LoadResult,
    LogView,
    ModuleErrorView,
    ShellResult,
    VMStatusCard,
)
from tests.doubles.shell_lab import ShellLab as RealLab
from tests.doubles.shell_lab import real_lab

pytestmark = pytest.mark.integration

HELLO = r"""#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "Whom to greet");

static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many times to greet");

static int __init hello_init(void)
{
	int i;

	for (i = 0; i < count; i++)
		pr_info("Hello, %s!\n", name);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("Goodbye, %s!\n", name);
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("kernelmagic tests");
MODULE_DESCRIPTION("Greets whoever you name");
MODULE_VERSION("1.0");
"""

BROKEN = """#include <linux/module.h>

static int __init broken_init(void)
{
\tint x = 1
\treturn x;
}
module_init(broken_init);
MODULE_LICENSE("GPL");
"""

NONGPL = """#include <linux/module.h>
#include <linux/kobject.h>

static struct kobject *kobj;

static int __init nongpl_init(void)
{
\tkobj = kobject_create_and_add("kmt_nongpl", NULL);
\treturn kobj ? 0 : -ENOMEM;
}

static void __exit nongpl_exit(void)
{
\tkobject_put(kobj);
}

module_init(nongpl_init);
module_exit(nongpl_exit);
MODULE_LICENSE("Proprietary");
"""

PROVIDER = """#include <linux/module.h>

int kmt_provider_greet(const char *who)
{
\tpr_info("kmt_provider greets %s\\n", who);
\treturn 42;
}
EXPORT_SYMBOL_GPL(kmt_provider_greet);

static int __init provider_init(void) { return 0; }
static void __exit provider_exit(void) { }
module_init(provider_init);
module_exit(provider_exit);
MODULE_LICENSE("GPL");
"""

CONSUMER = """#include <linux/module.h>

int kmt_provider_greet(const char *who);

static int __init consumer_init(void)
{
\tpr_info("kmt_consumer got %d\\n", kmt_provider_greet("the consumer"));
\treturn 0;
}
static void __exit consumer_exit(void) { }
module_init(consumer_init);
module_exit(consumer_exit);
MODULE_LICENSE("GPL");
"""

NOMEM = """#include <linux/module.h>

static int __init nomem_init(void)
{
\tpr_info("kmt_nomem: pretending that kmalloc failed\\n");
\treturn -ENOMEM;
}
static void __exit nomem_exit(void) { }
module_init(nomem_init);
module_exit(nomem_exit);
MODULE_LICENSE("GPL");
"""

OOPS = """#include <linux/module.h>

static int __init crashing_init(void)
{
\tint *p = NULL;

\treturn *p;
}
static void __exit crashing_exit(void) { }
module_init(crashing_init);
module_exit(crashing_exit);
MODULE_LICENSE("GPL");
"""

HELPER_H = """#ifndef KMT_HELPER_H
#define KMT_HELPER_H
int kmt_helper_twice(int x);
#endif
"""

HELPER_C = """#include <linux/module.h>
#include "helper.h"

int kmt_helper_twice(int x)
{
\tpr_info("kmt_multi: helper.c doubles %d\\n", x);
\treturn 2 * x;
}
"""

MULTI = """#include <linux/module.h>
#include "helper.h"

static int __init multi_init(void)
{
\tpr_info("kmt_multi: got %d\\n", kmt_helper_twice(21));
\treturn 0;
}
static void __exit multi_exit(void) { }
module_init(multi_init);
module_exit(multi_exit);
MODULE_LICENSE("GPL");
"""

GREET = """#include <linux/module.h>

static int __init greet_init(void)
{
\tpr_info("kmt_greet says %s\\n", GREETING);
\treturn 0;
}
static void __exit greet_exit(void) { }
module_init(greet_init);
module_exit(greet_exit);
MODULE_LICENSE("GPL");
"""

NOEXIT = """#include <linux/module.h>

static int __init noexit_init(void)
{
\tpr_info("kmt_noexit: here to stay\\n");
\treturn 0;
}
module_init(noexit_init);
MODULE_LICENSE("GPL");
"""

LATER = """#include <linux/module.h>
#include <linux/workqueue.h>

static void later_fn(struct work_struct *work)
{
\tpr_info("kmt_later: half a second later\\n");
}
static DECLARE_DELAYED_WORK(later_work, later_fn);

static int __init later_init(void)
{
\tschedule_delayed_work(&later_work, msecs_to_jiffies(500));
\treturn 0;
}
static void __exit later_exit(void)
{
\tcancel_delayed_work_sync(&later_work);
}
module_init(later_init);
module_exit(later_exit);
MODULE_LICENSE("GPL");
"""

LLC_USER = """#include <linux/module.h>
#include <net/llc.h>

static int __init llcuser_init(void)
{
\tpr_info("kmt_llcuser: llc_sap_find is at %px\\n", llc_sap_find);
\treturn 0;
}
static void __exit llcuser_exit(void) { }
module_init(llcuser_init);
module_exit(llcuser_exit);
MODULE_LICENSE("GPL");
"""


@pytest.fixture(scope="module")
def lab(bundle: Bundle) -> Iterator[RealLab]:
    with real_lab() as harness:
        yield harness


def test_hello_builds_with_a_module_card(lab: RealLab) -> None:
    result = lab.ok(f"%%kmodule kmt_hello\n{HELLO}")
    assert isinstance(result, KModuleResult)
    text = repr(result)
    assert "  license      GPL" in text
    assert "  description  Greets whoever you name" in text
    assert "  author       kmt_hello" not in text and "kernelmagic tests" in text
    assert "  version      1.0" in text
    assert re.search(r"vermagic +6\.1\.\S+ SMP preempt mod_unload modversions$", text, re.M)
    assert re.search(r"name +charp +Whom to greet", text)
    assert re.search(r"count +int +How many times to greet", text)
    assert re.search(r"(built|from cache \(built) in \d+\.\d\d s", text)
    assert "<b>kmt_hello</b>" in result._repr_html_()


def test_hello_loads_and_greets_the_spaced_name_whole(lab: RealLab) -> None:
    r = lab.ok('%insmod kmt_hello name="Linux Enthusiast"')
    assert isinstance(r, LoadResult)
    assert "Hello, Linux Enthusiast!" in r.log
    assert "unknown parameter" not in r.log
    assert repr(r).splitlines()[0] == "kmt_hello loaded"
    assert "lab VM ready in" in repr(lab.shown[0])


def test_vmsh_reads_the_parameter_from_sysfs(lab: RealLab) -> None:
    r = lab.ok("%vmsh cat /sys/module/kmt_hello/parameters/name")
    assert isinstance(r, ShellResult)
    assert repr(r) == "Linux Enthusiast"
    r = lab.ok("%%vmsh\ncd /sys/module/kmt_hello/parameters\nls\n")
    assert r.stdout.split() == ["count", "name"]
    lab.fails("%vmsh cat /sys/module/kmt_hello/parameters/nosuch", GuestCommandError)
    assert "[exit status 1]" in lab.last_text()


def test_already_loaded(lab: RealLab) -> None:
    error = lab.fails("%insmod kmt_hello", ModuleError)
    assert error.errno_name == "EEXIST"  # type: ignore[attr-defined]
    assert "already loaded" in lab.last_text()


def test_lsmod_rmmod_and_the_log_since_load(lab: RealLab) -> None:
    table = lab.ok("%lsmod kmt_")
    assert table.names == ["kmt_hello"]
    since = lab.ok("%dmesg --since-load kmt_hello")
    assert isinstance(since, LogView)
    assert "Hello, Linux Enthusiast!" in since.messages
    assert "info    Hello, Linux Enthusiast!" in repr(since)
    r = lab.ok("%rmmod kmt_hello")
    assert r.log == "Goodbye, Linux Enthusiast!"
    assert "kmt_hello" not in lab.ok("%lsmod")


def test_quoted_for_the_kernel_passes_unchanged_and_variables_expand(lab: RealLab) -> None:
    r = lab.ok("%insmod kmt_hello name='\"Linux Enthusiast\"' count=2")
    assert r.log.count("Hello, Linux Enthusiast!") == 2
    lab.ok("%rmmod kmt_hello")
    lab.shell.user_ns["who"] = "Ada Lovelace"
    r = lab.ok('%insmod kmt_hello name="{who}"')
    assert "Hello, Ada Lovelace!" in r.log
    lab.ok("%rmmod kmt_hello")


def test_bad_parameter_value(lab: RealLab) -> None:
    error = lab.fails("%insmod kmt_hello count=abc", ModuleError)
    assert error.errno_name == "EINVAL"  # type: ignore[attr-defined]
    text = lab.last_text()
    assert "'abc' is not a valid value for parameter count of type int" in text


def test_kmodule_load_reloads(lab: RealLab) -> None:
    first = lab.ok(f"%%kmodule kmt_hello --load\n{HELLO}")
    assert first.load is not None and "Hello, world!" in first.log
    again = lab.ok(f"%%kmodule kmt_hello --load\n{HELLO}")
    assert again.build.cached
    assert again.load.outcome.startswith("kmt_hello reloaded")
    assert again.log.splitlines() == ["Goodbye, world!", "Hello, world!"]
    lab.ok("%rmmod kmt_hello")


def test_compile_error_at_its_cell_line_with_a_caret(lab: RealLab) -> None:
    lab.fails(f"%%kmodule kmt_broken\n{BROKEN}", BuildError)
    view = lab.shown[-1]
    assert isinstance(view, BuildFailure)
    text = repr(view)
    # cell line 7 is "\treturn x;" (the %%kmodule line is line 1); the caret is under "return"
    assert "cell line 7: error: expected ',' or ';' before 'return'" in text
    lines = text.splitlines()
    at = lines.index("    7 |         return x;")
    assert lines[at + 1] == "      |         ^"


def test_modpost_error_gpl_only_symbol(lab: RealLab) -> None:
    lab.fails(f"%%kmodule kmt_nongpl\n{NONGPL}", BuildError)
    text = lab.last_text()
    assert (
        "modpost: error: GPL-incompatible module kmt_nongpl.ko uses GPL-only symbol "
        "'kobject_create_and_add'" in text
    )
    assert "this module's is on cell line 20" in text


def test_unknown_symbol_when_the_consumer_comes_first(lab: RealLab) -> None:
    lab.ok(f"%%kmodule kmt_provider\n{PROVIDER}")
    lab.ok(f"%%kmodule kmt_consumer\n{CONSUMER}")
    error = lab.fails("%insmod kmt_consumer", ModuleError)
    assert error.errno_name == "ENOENT"  # type: ignore[attr-defined]
    text = lab.last_text()
    assert "kmt_provider exports kmt_provider_greet: load it first (%insmod kmt_provider)" in text
    assert "Unknown symbol kmt_provider_greet" in text


def test_init_returning_enomem(lab: RealLab) -> None:
    lab.ok(f"%%kmodule kmt_nomem\n{NOMEM}")
    error = lab.fails("%insmod kmt_nomem", ModuleError)
    assert error.errno_name == "ENOMEM"  # type: ignore[attr-defined]
    view = lab.shown[-1]
    assert isinstance(view, ModuleErrorView)
    assert "init function returned -ENOMEM (-12)" in repr(view)
    assert "kmt_nomem: pretending that kmalloc failed" in repr(view)


def test_modprobe_resolves_a_dependency_between_own_modules(lab: RealLab) -> None:
    for name, source in (("kmt_provider", PROVIDER), ("kmt_consumer", CONSUMER)):
        result = lab.ok(f"%%kmodule {name} --install\n{source}")
        assert result.installed.endswith(f"/extra/{name}.ko")
    r = lab.ok("%modprobe kmt_consumer")
    assert r.loaded == ["kmt_provider", "kmt_consumer"]
    assert "kmt_consumer got 42" in r.log
    table = lab.ok("%lsmod kmt_provider")
    assert table.modules[0].used_by == ["kmt_consumer"]
    lab.fails("%rmmod kmt_provider", ModuleError)
    assert "in use" in lab.last_text()
    gone = lab.ok("%modprobe -r kmt_consumer")
    assert gone.removed == ["kmt_consumer", "kmt_provider"]


def test_modinfo_host_and_guest(lab: RealLab) -> None:
    own = lab.ok("%modinfo kmt_hello")
    assert own.info.param("name") is not None and own.build is not None
    guest = lab.ok("%modinfo bridge")
    assert guest.info.license == "GPL" and "stp" in guest.info.depends


def test_dmesg_options(lab: RealLab) -> None:
    assert len(lab.ok("%dmesg -n 3").records) == 3
    errors = lab.ok("%dmesg --level err+")
    assert all(r.level <= 3 for r in errors.records)
    assert repr(lab.ok("%dmesg --clear")) == "kernel log cleared"
    assert lab.ok("%dmesg").messages == []
    assert lab.ok("%dmesg --follow 0.5").messages == []


def test_kexport_builds_with_the_bundles_kbuild(lab: RealLab, bundle: Bundle) -> None:
    with tempfile.TemporaryDirectory(prefix="kmt-export-") as tmp:
        dest = Path(tmp) / "hello"
        lab.ok(f"%kexport kmt_hello {dest}")
        assert (dest / "Makefile").is_file() and (dest / "kmt_hello.c").read_text() == HELLO
        make = subprocess.run(
            ["make", "-C", str(bundle.kbuild_dir), f"M={dest}", "modules"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert make.returncode == 0, make.stdout + make.stderr
        assert (dest / "kmt_hello.ko").is_file()


def test_status_card_explains_the_taint(lab: RealLab) -> None:
    card = lab.ok("%vm status")
    assert isinstance(card, VMStatusCard)
    text = repr(card)
    assert "O  a module built outside the kernel tree" in text
    assert "E  an unsigned module was loaded" in text


def test_an_oops_in_init_is_shown_and_restart_gives_a_clean_kernel(lab: RealLab) -> None:
    lab.ok(f"%%kmodule kmt_oops\n{OOPS}")
    lab.fails("%insmod kmt_oops", ModuleError)
    crashes = [x for x in lab.shown[-3:] if isinstance(x, CrashView)]
    assert crashes, [repr(x) for x in lab.shown[-3:]]
    text = repr(crashes[-1])
    assert text.startswith("kernel oops in crashing_init+0x") and "of %%kmodule kmt_oops" in text
    assert "tainted (D: it died once)" in text
    assert "D  the kernel died recently" in repr(lab.ok("%vm status"))
    assert "restarted with a fresh kernel" in repr(lab.ok("%vm restart"))
    assert "not tainted (0)" in repr(lab.ok("%vm status"))


def test_kfile_files_build_and_load_with_the_module(lab: RealLab) -> None:
    lab.ok(f"%%kfile kmt_multi/helper.h\n{HELPER_H}")
    lab.ok(f"%%kfile kmt_multi/helper.c\n{HELPER_C}")
    r = lab.ok(f"%%kmodule kmt_multi --load\n{MULTI}")
    assert set(lab.session.workspace.sources("kmt_multi").texts()) == {
        "helper.h",
        "helper.c",
        "kmt_multi_main.c",
    }
    assert r.log.splitlines()[-2:] == ["kmt_multi: helper.c doubles 21", "kmt_multi: got 42"]
    lab.ok("%rmmod kmt_multi")


def test_cflags_reach_the_compiler(lab: RealLab) -> None:
    r = lab.ok(f'%%kmodule kmt_greet --load --cflags "-DGREETING=\\"hi\\""\n{GREET}')
    assert r.log == "kmt_greet says hi"
    lab.ok("%rmmod kmt_greet")


def test_rmmod_force_removes_a_module_without_exit(lab: RealLab) -> None:
    lab.ok(f"%%kmodule kmt_noexit --load\n{NOEXIT}")
    error = lab.fails("%rmmod kmt_noexit", ModuleError)
    assert error.errno_name == "EBUSY"  # type: ignore[attr-defined]
    assert "%rmmod --force kmt_noexit" in lab.last_text()
    lab.ok("%rmmod --force kmt_noexit")
    assert "kmt_noexit" not in lab.ok("%lsmod").names
    assert "R  a module was unloaded by force" in repr(lab.ok("%vm status"))


def test_dmesg_follow_receives_a_record_logged_meanwhile(lab: RealLab) -> None:
    lab.ok(f"%%kmodule kmt_later\n{LATER}")
    assert "half a second" not in lab.ok("%insmod kmt_later").log
    followed = lab.ok("%dmesg --follow 2")
    assert followed.messages == ["kmt_later: half a second later"]
    lab.ok("%rmmod kmt_later")


def test_unknown_symbol_of_a_kernel_module_names_it(lab: RealLab) -> None:
    if "llc" in lab.ok("%lsmod").names:
        lab.ok("%modprobe -r llc")
    lab.ok(f"%%kmodule kmt_llcuser\n{LLC_USER}")
    lab.fails("%insmod kmt_llcuser", ModuleError)
    assert "llc exports llc_sap_find: load it first (%modprobe llc)" in lab.last_text()
    assert lab.ok("%modprobe llc").loaded == ["llc"]
    assert "kmt_llcuser: llc_sap_find is at" in lab.ok("%insmod kmt_llcuser").log
    lab.ok("%rmmod kmt_llcuser")
    lab.ok("%modprobe -r llc")


def test_vm_stop_status_log_and_start(lab: RealLab) -> None:
    assert repr(lab.ok("%vm stop")).startswith("lab VM stopped")
    card = lab.ok("%vm status")
    assert isinstance(card, VMStatusCard) and "  state        stopped" in repr(card)
    assert lab.session.running_vm is None  # the status card did not boot it
    log = lab.ok("%vm log -n 5")
    assert log.note == "the lab VM is not running; its last console:"
    assert 0 < len(log.lines) <= 5
    assert repr(lab.ok("%vm start")).startswith("lab VM ready in")
    assert "  state        running" in repr(lab.ok("%vm status"))
    lab.ok("%vmsh echo kmt: a line for the console > /dev/kmsg")
    deadline = time.monotonic() + 5
    while "kmt: a line for the console" not in repr(log := lab.ok("%vm log -n 5")):
        assert time.monotonic() < deadline, repr(log)
        time.sleep(0.1)
    assert log.note == "" and 0 < len(log.lines) <= 5
    assert not any("kmt_llcuser" in line for line in log.lines)  # a fresh console


def test_an_oops_in_the_first_command_after_the_boot_is_shown(lab: RealLab) -> None:
    lab.ok("%vm stop")
    lab.fails("%insmod kmt_oops", ModuleError)  # boots the VM lazily, then oopses
    assert "lab VM ready in" in repr(lab.shown[-2])
    view = lab.shown[-1]  # the crash explains the failure: no second view for it
    assert isinstance(view, CrashView), [repr(x) for x in lab.shown[-3:]]
    assert repr(view).startswith("kernel oops in crashing_init+0x")
    build = lab.session.last_build("kmt_oops").build_dir
    assert str(build) not in view._repr_html_() and str(build) not in repr(view)


# -- the second half's lab: %%userprog, two vCPUs, the edu device ------------------------


ARGS = r"""#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		printf("[%s]", argv[i]);
	printf(" uid %d\n", (int)getuid());
	return 0;
}
"""


def test_a_user_program_runs_in_the_guest_by_name_after_a_restart_too(lab: RealLab) -> None:
    r = lab.ok(f"%%userprog kmt_args\n{ARGS}")
    assert repr(r) == "user program kmt_args built (static): run it in the guest as kmt_args"
    assert repr(lab.ok('%vmsh kmt_args one "two words"')) == "[one][two words] uid 0"
    lab.ok("%vm restart")
    assert repr(lab.ok("%vmsh kmt_args again")) == "[again] uid 0"


EDU_ID = r"""#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
int main(void)
{
	int fd = open("/sys/bus/pci/devices/0000:00:03.0/resource0", O_RDWR | O_SYNC);
	volatile uint32_t *bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd < 0 || bar == MAP_FAILED)
		return 1;
	bar[1] = 0x12345678;
	printf("id %08x liveness %08x\n", bar[0], bar[1]);
	return 0;
}
"""


def test_two_vcpus_by_default_and_the_edu_device_on_request(lab: RealLab) -> None:
    assert repr(lab.ok("%vmsh nproc")) == "2"
    notice = repr(lab.ok("%vm start --device edu"))
    assert notice.startswith("lab VM restarted as 2 vCPUs, 256 MiB, device edu (was 2 vCPUs")
    edu = "/sys/bus/pci/devices/0000:00:03.0"
    ids = lab.ok(f"%vmsh cat {edu}/vendor {edu}/device").stdout.split()
    assert ids == ["0x1234", "0x11e8"]
    assert "device edu" in repr(lab.ok("%vm status"))
    lab.ok(f"%%userprog kmt_eduid\n{EDU_ID}")
    # The edu device answers through its BAR, after a cold boot and after a restore from
    # the saved state (which QEMU cannot migrate edu's registers into: the lab re-probes).
    enable = "echo 1 > /sys/bus/pci/devices/0000:00:03.0/enable"  # memory decoding on
    for _ in range(2):
        assert repr(lab.ok(f"%vmsh {enable}; kmt_eduid")) == "id 010000ed liveness edcba987"
        lab.ok("%vm restart")
    assert lab.session.running_vm.restored  # type: ignore[union-attr]
    lab.ok("%vm restart --device none")
    assert lab.ok("%vmsh ls /sys/bus/pci/devices").stdout.count("0000:00:03.0") == 0
