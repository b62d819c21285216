# SPDX-License-Identifier: MIT
"""kmod.py against a fake guest that answers with kmod's and the kernel's real messages.

insmod and rmmod run the guest helper (``modop.py``), modprobe kmod's tool between two
log reads. The refusal hints come from ``refusals.py`` and the log reads from
``kernel_log.py``; they are tested here, through the operations, because this fake
guest plays the tools. The deadlines are in test_watched.py.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from kernelmagic.errors import GuestCommandError, ModuleError
from kernelmagic.guest import kernel_log, kmod
from kernelmagic.guest.kernel_log import KERNEL_LOG, LogMark
from kernelmagic.guest.modinfo import ModuleInfo, ParamInfo
from kernelmagic.guest.watched import MODOP
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.names import kernel_module_name
from tests.doubles.fake_guest import ModuleGuest as FakeGuest

KO_GUEST = "/mnt/host/hello-0123/hello.ko"
HELLO = ModuleInfo(
    "hello",
    {"license": ["GPL"]},
    [ParamInfo("name", "charp", "Whom to greet"), ParamInfo("count", "int", "How often")],
)


@pytest.fixture
def guest(tmp_path: Path) -> FakeGuest:
    return FakeGuest(tmp_path / "builds")


@pytest.fixture
def ko(guest: FakeGuest) -> Path:
    return guest.share / "hello-0123" / "hello.ko"


@pytest.fixture(autouse=True)
def _private_home(home: Path) -> Path:
    return home


# -- parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("name=Linux Enthusiast", 'name="Linux Enthusiast"'),
        ('name="Linux Enthusiast"', 'name="Linux Enthusiast"'),
        ("count=3", "count=3"),
        ("debug", "debug"),
        ("name=", 'name=""'),
        ('name=""', 'name=""'),
        ("name=tab\there", 'name="tab\there"'),
        ("ids=1,2,3", "ids=1,2,3"),
        ("dyndbg=+p", "dyndbg=+p"),
        ("my-param=x", "my-param=x"),
        ("usbcore.autosuspend=-1", "usbcore.autosuspend=-1"),
        ("expr=a=b", "expr=a=b"),
    ],
)
def test_kernel_param(arg: str, expected: str) -> None:
    assert kmod.kernel_param(arg) == expected
    assert kmod.kernel_param(expected) == expected  # quoting twice changes nothing


@pytest.mark.parametrize(
    "arg", ['name=say "hi"', 'name="say "hi""', 'name="open', "=3", "1count=3", "na me=x", ""]
)
def test_kernel_param_rejects(arg: str) -> None:
    with pytest.raises(ValueError):
        kmod.kernel_param(arg)


def test_kernel_params_from_mapping() -> None:
    params = {
        "debug": True,
        "quiet": False,
        "ids": [1, 2, 3],
        "names": ("a", "b"),
        "name": "Linux Enthusiast",
        "count": 3,
    }
    assert kmod.kernel_params(params) == [
        "debug=Y",
        "quiet=N",
        "ids=1,2,3",
        "names=a,b",
        'name="Linux Enthusiast"',
        "count=3",
    ]
    assert kmod.kernel_params(["count=3", "name=a b"]) == ["count=3", 'name="a b"']


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "Y"),
        (False, "N"),
        ([1, 2, 3], "1,2,3"),
        (("a", "b"), "a,b"),
        (3, "3"),
        ("x y", "x y"),
    ],
)
def test_param_text_is_how_the_kernel_writes_the_value(value: object, text: str) -> None:
    assert kmod.param_text(value) == text


# -- /proc/modules and names ---------------------------------------------------------

PROC_MODULES = """\
hello 16384 0 - Live 0xffffffffc0a00000 (O)
bridge 311296 1 br_netfilter, Live 0xffffffffc0900000
stp 16384 1 bridge, Live 0xffffffffc08f0000
llc 16384 2 bridge,stp, Live 0xffffffffc08e0000
leaving 16384 0 - Unloading 0xffffffffc08d0000 (OE)
"""


def test_parse_proc_modules() -> None:
    modules = kmod.parse_proc_modules(PROC_MODULES + "\ngarbage\n")
    assert [m.name for m in modules] == ["hello", "bridge", "stp", "llc", "leaving"]
    hello, bridge, _stp, llc, leaving = modules
    assert (hello.size, hello.use_count, hello.used_by, hello.state) == (16384, 0, [], "Live")
    assert bridge.used_by == ["br_netfilter"]
    assert llc.used_by == ["bridge", "stp"] and llc.use_count == 2
    assert leaving.state == "Unloading"


def test_lsmod_and_is_loaded(guest: FakeGuest) -> None:
    guest.results["cat"] = ExecResult(0, PROC_MODULES)
    assert [m.name for m in kmod.lsmod(guest)][:2] == ["hello", "bridge"]
    assert guest.calls[-1] == ["cat", "/proc/modules"]
    assert kmod.is_loaded(guest, "hello")
    assert kmod.is_loaded(guest, "br-netfilter") is False
    assert not kmod.is_loaded(guest, "dummy")


def test_module_name() -> None:
    """The names the operations accept: the kernel's ``-`` and ``_`` are one character."""
    assert kernel_module_name("hello-world") == "hello_world"
    for bad in ("", "a b", "../x", "x.ko"):
        with pytest.raises(ValueError):
            kernel_module_name(bad)
    with pytest.raises(ValueError):
        kmod.rmmod(FakeGuest(Path("/nowhere")), "x.ko")


# -- kernel log reads (kernel_log.py) ------------------------------------------------


def test_log_mark_and_since(guest: FakeGuest) -> None:
    assert kernel_log.log_mark(guest) == LogMark(12.0, 1)
    guest.new_log = "<6>[   12.345678] hello: loaded\n<4>[   12.400000] hello: careful\n"
    records = kernel_log.log_since(guest, LogMark(12.0, 1))
    assert guest.calls[-1] == [KERNEL_LOG, "after", "12.000000", "1"]
    assert [(r.level, r.message) for r in records] == [(6, "hello: loaded"), (4, "hello: careful")]


def test_log_mark_of_empty_log(guest: FakeGuest) -> None:
    guest.mark = "-1 0\n"
    assert kernel_log.log_mark(guest) == LogMark(-1.0, 0)


def test_log_mark_waits_for_settled_vm(guest: FakeGuest) -> None:
    kernel_log.log_mark(guest)
    assert guest.settled == 1
    assert guest.calls == [[KERNEL_LOG, "mark"]]


def test_log_mark_with_garbage_output_is_a_guest_command_error(guest: FakeGuest) -> None:
    guest.mark = "no mark here\n"
    with pytest.raises(GuestCommandError):
        kernel_log.log_mark(guest)


# -- insmod --------------------------------------------------------------------------


def test_insmod_ok(guest: FakeGuest, ko: Path) -> None:
    guest.new_log = "<6>[   12.500000] Hello, Linux Enthusiast!\n"
    op = kmod.insmod(guest, ko, ["name=Linux Enthusiast", "count=2"], info=HELLO)
    assert op.argv == ["insmod", KO_GUEST, 'name="Linux Enthusiast"', "count=2"]
    assert op.module == "hello" and op.action == "insmod"
    assert op.log_text == "Hello, Linux Enthusiast!"
    assert "insmod hello: ok" in repr(op)
    # one exchange: the helper marks the log, loads, and returns the records it caused
    assert guest.calls == [[MODOP, "insmod", "200", KO_GUEST, 'name="Linux Enthusiast"', "count=2"]]
    assert op.mark == LogMark(12.0, 1) and guest.settled == 1
    assert op.log[0].sequence == 300 and op.log[0].level == 6
    assert op.omitted == 0 and op.lost == 0


def test_insmod_mapping_params(guest: FakeGuest, ko: Path) -> None:
    op = kmod.insmod(guest, ko, {"count": 3, "loud": True}, info=HELLO)
    assert op.argv[2:] == ["count=3", "loud=Y"]


def test_insmod_already_loaded(guest: FakeGuest, ko: Path) -> None:
    guest.refuse("insmod", f"insmod: ERROR: could not insert module {KO_GUEST}: File exists")
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    error = info.value
    assert error.errno_name == "EEXIST"
    assert "already loaded" in error.hint and "%rmmod hello" in error.hint
    assert str(error) == f"insmod hello failed: could not insert module {KO_GUEST}: File exists"
    assert error.module == "hello"


UNKNOWN_SYMBOL_LOG = "<4>[   12.3] consumer: Unknown symbol provider_add (err -2)\n"


def test_insmod_unknown_symbol(guest: FakeGuest, ko: Path) -> None:
    guest.refuse(
        "insmod",
        f"insmod: ERROR: could not insert module {KO_GUEST}: Unknown symbol in module",
        UNKNOWN_SYMBOL_LOG,
    )
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=ModuleInfo("consumer"))
    error = info.value
    assert error.errno_name == "ENOENT"
    assert "provider_add" in error.hint and "EXPORT_SYMBOL" in error.hint
    assert error.log == ["consumer: Unknown symbol provider_add (err -2)"]


def refuse_unknown(guest: FakeGuest, *symbols: str) -> None:
    guest.refuse(
        "insmod",
        f"insmod: ERROR: could not insert module {KO_GUEST}: Unknown symbol in module",
        "".join(f"<4>[   12.3] consumer: Unknown symbol {s} (err -2)\n" for s in symbols),
    )


def symvers(path: Path, lines: Sequence[tuple[str, str]]) -> Path:
    """A Module.symvers exporting each (symbol, module path) pair."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"0x1c2d3e4f\t{s}\t{m}\tEXPORT_SYMBOL\t\n" for s, m in lines))
    return path


def test_insmod_unknown_symbol_names_exporter_grouped_by_module(
    guest: FakeGuest, ko: Path, home: Path
) -> None:
    build = home / "builds" / "provider-89ab"
    provider = symvers(build / "Module.symvers", [
        ("provider_get", f"{build}/provider"), ("provider_add", f"{build}/provider"),
        ("provider_secret", f"{build}/provider"),
    ])  # fmt: skip
    # a build of another notebook in the shared cache is not consulted
    other = home / "builds" / "unrelated-0000"
    symvers(other / "Module.symvers", [("other_fn", f"{other}/unrelated")])
    refuse_unknown(guest, "provider_secret", "provider_add", "other_fn")
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=ModuleInfo("consumer"), symbol_sources=[provider])
    assert info.value.hint == (
        "the kernel does not know other_fn, provider_add, provider_secret. provider exports "
        "provider_add, provider_secret: load it first (%insmod provider); no module known "
        "here exports other_fn: load the module that does first, or check the spelling and "
        "that it is exported (EXPORT_SYMBOL)."
    )


def test_insmod_unknown_symbol_in_a_kernel_module_suggests_modprobe(
    guest: FakeGuest, ko: Path, tmp_path: Path
) -> None:
    kbuild = tmp_path / "kbuild"
    symvers(kbuild / "Module.symvers", [
        ("_printk", "vmlinux"), ("llc_sap_open", "net/llc/llc"),
        ("llc_sap_close", "net/llc/llc"), ("stp_proto_register", "net/802/stp"),
    ])  # fmt: skip
    guest.bundle = SimpleNamespace(kbuild_dir=kbuild)  # type: ignore[attr-defined]
    refuse_unknown(guest, "llc_sap_open", "llc_sap_close")
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=ModuleInfo("consumer"))  # no sources: the kernel's only
    assert info.value.hint == (
        "the kernel does not know llc_sap_close, llc_sap_open. llc exports llc_sap_close, "
        "llc_sap_open: load it first (%modprobe llc)."
    )


def test_insmod_unknown_symbol_of_vmlinux_is_no_missing_module(
    guest: FakeGuest, ko: Path, tmp_path: Path
) -> None:
    kbuild = tmp_path / "kbuild"
    symvers(kbuild / "Module.symvers", [("_printk", "vmlinux")])
    guest.bundle = SimpleNamespace(kbuild_dir=kbuild)  # type: ignore[attr-defined]
    refuse_unknown(guest, "_printk")
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=ModuleInfo("consumer"), symbol_sources=[])
    assert "the kernel itself (vmlinux) exports _printk, so no module is missing" in (
        info.value.hint
    )


def test_insmod_invalid_parameter(guest: FakeGuest, ko: Path) -> None:
    guest.refuse(
        "insmod",
        f"insmod: ERROR: could not insert module {KO_GUEST}: Invalid parameters",
        "<3>[ 1.0] params: `abc' invalid for parameter `count'\n",
    )
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, ["count=abc"], info=HELLO)
    error = info.value
    assert error.errno_name == "EINVAL"
    assert error.hint == "'abc' is not a valid value for parameter count of type int"


def test_insmod_einval_from_init(guest: FakeGuest, ko: Path) -> None:
    guest.refuse("insmod", f"insmod: ERROR: could not insert module {KO_GUEST}: Invalid parameters")
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    assert "returned -EINVAL (-22)" in info.value.hint


def test_insmod_enomem(guest: FakeGuest, ko: Path) -> None:
    guest.refuse(
        "insmod", f"insmod: ERROR: could not insert module {KO_GUEST}: Cannot allocate memory"
    )
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    error = info.value
    assert error.errno_name == "ENOMEM"
    assert "init function returned -ENOMEM (-12): Cannot allocate memory" in error.hint


def test_insmod_wrong_kernel(guest: FakeGuest, ko: Path) -> None:
    guest.refuse(
        "insmod",
        f"insmod: ERROR: could not insert module {KO_GUEST}: Invalid module format",
        "<3>[ 5.0] hello: version magic '6.1.0-55-amd64 SMP' should be '6.1.0-56-amd64 SMP'\n",
    )
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    assert info.value.errno_name == "ENOEXEC"
    assert "another kernel" in info.value.hint


def test_insmod_file_missing_in_guest(guest: FakeGuest, ko: Path) -> None:
    """kmod's "could not load" means it could not read the file: no init ran."""
    guest.refuse(
        "insmod", f"insmod: ERROR: could not load module {KO_GUEST}: No such file or directory"
    )
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    assert info.value.errno_name == "ENOENT"
    assert "init function" not in info.value.hint
    assert KO_GUEST in info.value.hint


# -- rmmod and modprobe --------------------------------------------------------------


def test_rmmod_ok(guest: FakeGuest) -> None:
    guest.new_log = "<6>[   13.000000] Goodbye\n"
    op = kmod.rmmod(guest, "hello-world")
    assert op.argv == ["rmmod", "hello_world"]
    assert op.log_text == "Goodbye"
    assert guest.calls == [[MODOP, "rmmod", "200", "hello_world"]]
    kmod.rmmod(guest, "hello", force=True)
    assert guest.calls[-1] == [MODOP, "rmmod", "200", "-f", "hello"]


def test_rmmod_not_loaded(guest: FakeGuest) -> None:
    guest.refuse("rmmod", "rmmod: ERROR: Module hello is not currently loaded")
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "hello")
    assert str(info.value) == "rmmod hello failed: Module hello is not currently loaded"
    assert "not loaded" in info.value.hint and "%lsmod" in info.value.hint


def test_rmmod_in_use(guest: FakeGuest) -> None:
    guest.refuse("rmmod", "rmmod: ERROR: Module stp is in use by: bridge")
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "stp")
    assert "unload the users first" in info.value.hint
    assert "bridge" in str(info.value)


def test_rmmod_busy(guest: FakeGuest) -> None:
    guest.refuse(
        "rmmod", "rmmod: ERROR: could not remove module hello: Resource temporarily unavailable"
    )
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "hello")
    assert "busy" in info.value.hint
    assert info.value.errno_name == "EAGAIN"


def test_rmmod_of_a_module_without_exit_suggests_force(guest: FakeGuest) -> None:
    guest.refuse("rmmod", "rmmod: ERROR: could not remove module hello: Device or resource busy")
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "hello")
    assert "without a module_exit function" in info.value.hint
    assert "%rmmod --force hello" in info.value.hint
    assert info.value.errno_name == "EBUSY"


def test_rmmod_force(guest: FakeGuest) -> None:
    op = kmod.rmmod(guest, "hello", force=True)
    assert op.argv == ["rmmod", "-f", "hello"]
    assert guest.helper_call() == [MODOP, "rmmod", "200", "-f", "hello"]


def test_modprobe_not_installed(guest: FakeGuest) -> None:
    guest.refuse(
        "modprobe", "modprobe: FATAL: Module hello not found in directory /lib/modules/6.1.0-56"
    )
    with pytest.raises(ModuleError) as info:
        kmod.modprobe(guest, "hello")
    assert "%%kmodule --install" in info.value.hint


def test_modprobe_ok(guest: FakeGuest) -> None:
    op = kmod.modprobe(guest, "dummy", ["numdummies=2"])
    assert op.argv == ["modprobe", "dummy", "numdummies=2"] and op.action == "modprobe"
    op = kmod.modprobe(guest, "dummy", remove=True)
    assert op.argv == ["modprobe", "-r", "dummy"] and op.action == "modprobe -r"


def test_install(guest: FakeGuest, ko: Path) -> None:
    guest.results["uname"] = ExecResult(0, "6.1.0-56-amd64\n")
    dest = kmod.install(guest, ko, info=HELLO)
    assert dest == "/lib/modules/6.1.0-56-amd64/extra/hello.ko"
    assert guest.command("cp") == ["cp", KO_GUEST, dest]
    assert guest.calls[-1] == ["depmod", "-a"]


def test_modinfo_in_guest(guest: FakeGuest) -> None:
    guest.results["modinfo"] = ExecResult(0, "name:           dummy\nlicense:        GPL\n")
    assert kmod.modinfo(guest, "dummy").license == "GPL"
    guest.refuse("modinfo", "modinfo: ERROR: Module nothere not found.")
    with pytest.raises(ModuleError, match="not found"):
        kmod.modinfo(guest, "nothere")


def test_dmesg_tail_and_all(guest: FakeGuest) -> None:
    guest.new_log = "<6>[ 1.0] a\n<6>[ 2.0] b\n"
    assert [r.message for r in kernel_log.dmesg(guest, last=2)] == ["a", "b"]
    assert guest.calls[-1] == [KERNEL_LOG, "tail", "2"]
    guest.results["dmesg"] = ExecResult(0, "<6>[ 1.0] a\n")
    assert [r.message for r in kernel_log.dmesg(guest)] == ["a"]
    assert guest.calls[-1] == ["dmesg", "-r"]


def test_clear_log(guest: FakeGuest) -> None:
    kernel_log.clear_log(guest)
    assert guest.calls == [["dmesg", "-c"]]


# -- what an oops or a hang leaves, and floods -----------------------------------------------


def test_an_insmod_killed_by_an_oops_reads_as_kmods_exit_status(guest: FakeGuest, ko: Path) -> None:
    guest.helper = {"result": "signal 9"}
    guest.new_log = "<1>[ 13.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
    with pytest.raises(ModuleError) as info:
        kmod.insmod(guest, ko, info=HELLO)
    assert str(info.value) == "insmod hello failed: exit status 137"
    assert info.value.errno_name == "" and info.value.output == ""
    assert info.value.log[0].startswith("BUG: kernel NULL pointer dereference")


def test_rmmod_of_a_module_whose_init_never_returned_says_restart(guest: FakeGuest) -> None:
    guest.helper = {"result": "refused inuse", "state": "coming", "refcnt": 1}
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "crash")
    assert str(info.value) == "rmmod crash failed: Module crash is in use"
    assert "[Loading]" in info.value.hint and "%vm restart" in info.value.hint


def test_rmmod_of_a_module_left_unloading_says_it_never_goes_in_this_boot(
    guest: FakeGuest,
) -> None:
    guest.helper = {"result": f"errno {errno.EBUSY}", "state": "going", "refcnt": -1}
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "crashexit")
    error = info.value
    assert str(error) == "rmmod crashexit failed: could not remove module crashexit: " + (
        "Device or resource busy"
    )
    assert "can never be unloaded in this boot" in error.hint
    assert "%vm restart" in error.hint and "module_exit" not in error.hint


def test_rmmod_of_a_built_in_module(guest: FakeGuest) -> None:
    guest.helper = {"result": "refused builtin", "state": "builtin"}
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "kprobes")
    assert str(info.value) == "rmmod kprobes failed: Module kprobes is builtin."
    assert "built into the kernel" in info.value.hint


def test_rmmod_in_use_without_holders(guest: FakeGuest) -> None:
    guest.refuse("rmmod", "rmmod: ERROR: Module chardev is in use")
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(guest, "chardev")
    assert str(info.value) == "rmmod chardev failed: Module chardev is in use"
    assert info.value.errno_name == "EBUSY"
    assert info.value.output == "rmmod: ERROR: Module chardev is in use\n"


def test_a_flood_keeps_the_last_records_and_counts_the_rest(guest: FakeGuest, ko: Path) -> None:
    guest.helper = {"result": "errno 0", "lost": 99_700, "omitted": 99_800}
    guest.new_log = "".join(f"<6>[ 13.{i:06d}] line {99_800 + i}\n" for i in range(200))
    op = kmod.insmod(guest, ko, info=HELLO)
    assert len(op.log) == 200 and op.omitted == 99_800 and op.lost == 99_700
    assert op.log[-1].message == "line 99999"
    assert op.log[0].sequence == 300 + 99_700  # the records after the lost ones
    assert "(99800 earlier log lines left out)" in repr(op)


def test_module_state_and_operations_running(guest: FakeGuest) -> None:
    guest.results["cat"] = ExecResult(0, PROC_MODULES)
    assert kmod.module_state(guest, "leaving") == "Unloading"
    assert kmod.module_state(guest, "hello") == "Live"
    assert kmod.module_state(guest, "absent") is None
    assert kmod.operations_running(guest) == []
    assert guest.calls[-1] == [MODOP, "running"]
