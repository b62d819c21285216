# SPDX-License-Identifier: MIT
"""The magics through a real IPython InteractiveShell, over a simulated guest kernel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, GuestCommandError, ModuleError
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.notebook.magics import ArgumentError
from kernelmagic.notebook.views import (
    KModuleResult,
    LoadResult,
    LogView,
    ModuleErrorView,
    ShellResult,
)
from tests.doubles.fake_lab import Lab, make_lab

HELLO = """\
#include <linux/module.h>
static char *name = "world";
module_param(name, charp, 0444);
MODULE_PARM_DESC(name, "Whom to greet");
static int count = 1;
module_param(count, int, 0444);
MODULE_PARM_DESC(count, "How many times");
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Says hello");
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path))
    lab = make_lab(tmp_path)
    lab.vm.behaviour["hello"] = lambda p: (0, [f"Hello, {p.get('name', 'world')}!"])
    yield lab
    lab.session.shutdown()


def build_hello(lab: Lab, options: str = "") -> KModuleResult:
    result = lab.run(f"%%kmodule hello {options}\n{HELLO}")
    assert result.success, result.error_in_exec
    return result.result


def run_failing(lab: Lab, capsys: pytest.CaptureFixture[str], code: str) -> tuple[object, str]:
    """Run a cell that must fail; return its exception and what IPython printed for it."""
    capsys.readouterr()
    result = lab.run(code)
    assert not result.success
    return result.error_in_exec, one_line_error(capsys)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What IPython printed for the failed cell: one line, no traceback."""
    out = capsys.readouterr().out.strip()
    assert "Traceback" not in out and "File " not in out, out
    assert len(out.splitlines()) == 1, out
    return out


# -- registration and help ----------------------------------------------------------------


def test_every_magic_has_help_with_an_example(lab: Lab) -> None:
    magics = lab.shell.magics_manager.magics
    names = {
        "cell": ["kmodule", "kfile", "userprog", "vmsh"],
        "line": ["kexport", "insmod", "rmmod", "lsmod", "modinfo", "modprobe", "dmesg",
                 "vmsh", "vm"],
    }  # fmt: skip
    for kind, wanted in names.items():
        for name in wanted:
            doc = magics[kind][name].__doc__
            assert doc and "Example" in doc, (kind, name)


def test_load_ext_registers_and_unload_removes(tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    import kernelmagic
    from kernelmagic.notebook.session import LabSession, set_session

    shell = InteractiveShell.instance()
    old = set_session(LabSession(lambda _config: None, show=lambda obj: None))
    try:
        kernelmagic.load_ipython_extension(shell)
        assert "insmod" in shell.magics_manager.magics["line"]
        kernelmagic.unload_ipython_extension(shell)
        assert "insmod" not in shell.magics_manager.magics["line"]
        assert "kmodule" not in shell.magics_manager.magics["cell"]
    finally:
        set_session(old)


def test_lazy_public_names() -> None:
    import kernelmagic

    assert kernelmagic.LabVM.__name__ == "LabVM"
    assert callable(kernelmagic.insmod)
    assert set(kernelmagic.__all__) >= {"load_ipython_extension", "LabVM", "ModuleError"}
    with pytest.raises(AttributeError):
        _ = kernelmagic.no_such_name


# -- %%kmodule, %%kfile, %kexport ----------------------------------------------------------


def test_kmodule_builds_and_returns_a_card(lab: Lab) -> None:
    result = build_hello(lab, '--cflags "-DDEBUG -O1"')
    assert lab.builder.calls[-1]["cflags"] == "-DDEBUG -O1"
    assert lab.builder.calls[-1]["sources"] == {"hello.c": HELLO}
    text = repr(result)
    assert "module hello" in text and "Says hello" in text
    assert "count" in text and "int" in text and "How many times" in text
    assert "built in 0.84 s" in text
    assert lab.vm.starts == 0  # building needs no VM


def test_kmodule_load_loads_and_reloads(lab: Lab) -> None:
    first = build_hello(lab, "--load")
    assert first.load is not None and "Hello, world!" in first.log
    second = build_hello(lab, "--load --force")
    assert second.load is not None
    assert second.load.outcome.startswith("hello reloaded")
    assert ["rmmod", "-f", "hello"] in lab.vm.tool_calls
    assert "hello: exit" in second.log and "Hello, world!" in second.log
    assert "lab VM ready in 1.4 s (tcg)" in lab.shown_text()


def test_kmodule_install_copies_and_runs_depmod(lab: Lab) -> None:
    result = build_hello(lab, "--install")
    assert result.installed == "/lib/modules/6.1.0-56-amd64/extra/hello.ko"
    assert ["depmod", "-a"] in lab.vm.calls
    assert "installed as /lib/modules/6.1.0-56-amd64/extra/hello.ko" in repr(result)


def test_kmodule_failure_shows_cell_lines_and_fails_with_one_line(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    diag = Diagnostic("hello.c", 2, 18, "error", "expected ';' before 'return'", "compiler")
    lab.builder.fail = BuildError(str(diag), [diag], "log")
    result = lab.run("%%kmodule hello\nint a;\n\tint b = 1\nreturn;\n")
    assert isinstance(result.error_in_exec, BuildError)
    line = one_line_error(capsys)
    assert "BuildError" in line and "expected ';'" in line
    text = lab.shown_text()
    assert "build of hello failed: 1 error" in text
    assert "cell line 3: error: expected ';' before 'return'" in text
    # gcc counts a tab as reaching column 9, so column 18 is just after "int b = 1"
    assert "    3 |         int b = 1\n      |                  ^" in text


def test_kmodule_warnings_are_shown_at_their_cell_line(lab: Lab) -> None:
    lab.builder.diagnostics = [
        Diagnostic("hello.c", 2, 14, "warning", "unused variable 'name'", "compiler")
    ]
    text = repr(build_hello(lab))
    assert "cell line 3: warning: unused variable 'name'" in text


def test_kfile_files_build_with_the_module(lab: Lab) -> None:
    assert lab.run("%%kfile hello/util.c\nint helper(void) { return 1; }\n").success
    assert lab.run('%%kfile hello/util.h\n#define GREETING "hi"\n').success
    build_hello(lab)
    sources = lab.builder.calls[-1]["sources"]
    assert set(sources) == {"hello_main.c", "util.c", "util.h"}
    # a %%kfile cell with only blank lines removes the file again
    assert "removed" in repr(lab.run("%%kfile hello/util.c\n\n").result)
    build_hello(lab)
    assert set(lab.builder.calls[-1]["sources"]) == {"hello.c", "util.h"}


def test_kfile_diagnostic_names_its_own_cell(lab: Lab) -> None:
    lab.run("%%kfile hello/util.c\nint helper(void) { return x; }\n")
    diag = Diagnostic("util.c", 1, 27, "error", "'x' undeclared", "compiler")
    lab.builder.fail = BuildError(str(diag), [diag], "")
    lab.run(f"%%kmodule hello\n{HELLO}")
    assert "util.c, cell line 2 of %%kfile hello/util.c: error: 'x' undeclared" in (
        lab.shown_text()
    )


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%kfile hello\nx", "write NAME/FILE"),
        ("%%kfile hello/a.txt\nx", "not an accepted source file name"),
        ("%%kfile hello/hello.c\nx", "cannot be combined"),
        ("%%kmodule 9lives\nint x;", "not a valid module name"),
        ('%%kmodule hello --cflags "$(shell id)"\nint x;', "cflags may use only"),
        ("%%kmodule hello --bogus\nint x;", "unrecognized arguments: --bogus"),
        ("%%kmodule\nint x;", "the following arguments are required: name"),
    ],
)
def test_bad_arguments_fail_the_cell_with_one_line(
    lab: Lab, capsys: pytest.CaptureFixture[str], cell: str, message: str
) -> None:
    result = lab.run(cell)
    assert isinstance(result.error_in_exec, ArgumentError)
    assert message in one_line_error(capsys)


def test_kexport_writes_sources_kbuild_and_makefile(lab: Lab, tmp_path: Path) -> None:
    lab.run("%%kfile hello/util.h\n#define X 1\n")
    build_hello(lab, '--cflags "-DDEBUG"')
    dest = tmp_path / "export"
    result = lab.run(f"%kexport hello {dest}")
    assert result.success, result.error_in_exec
    assert sorted(p.name for p in dest.iterdir()) == ["Kbuild", "Makefile", "hello.c", "util.h"]
    assert "ccflags-y := -DDEBUG" in (dest / "Kbuild").read_text()
    assert (dest / "hello.c").read_text() == HELLO


def test_kexport_needs_the_kmodule_cell(lab: Lab, tmp_path: Path) -> None:
    assert isinstance(lab.run(f"%kexport nothing {tmp_path}").error_in_exec, ArgumentError)


# -- %insmod and its quoting -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    ['name="Linux Enthusiast"', "name='\"Linux Enthusiast\"'", "'name=Linux Enthusiast'"],
)
def test_insmod_value_with_spaces_reaches_the_module_whole(lab: Lab, args: str) -> None:
    build_hello(lab)
    result = lab.run(f"%insmod hello {args}")
    assert result.success, result.error_in_exec
    r: LoadResult = result.result
    assert "Hello, Linux Enthusiast!" in r.log
    assert "unknown parameter" not in r.log
    insmod = [c for c in lab.vm.tool_calls if c[0] == "insmod"][-1]
    assert insmod[2] == 'name="Linux Enthusiast"'


def test_insmod_expands_python_variables(lab: Lab) -> None:
    build_hello(lab)
    lab.shell.user_ns["who"] = "Ada Lovelace"
    result = lab.run('r = %insmod hello name="{who}" count=3')
    assert result.success, result.error_in_exec
    assert "Hello, Ada Lovelace!" in lab.shell.user_ns["r"].log


def test_insmod_output_is_outcome_and_log_lines_only(lab: Lab) -> None:
    build_hello(lab)
    r = lab.run("%insmod hello").result
    assert repr(r) == (
        "hello loaded\n  hello: loading out-of-tree module taints kernel.\n  Hello, world!"
    )


def test_insmod_without_a_build_says_what_to_do(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    result = lab.run("%insmod ghost")
    assert isinstance(result.error_in_exec, ModuleError)
    assert "no build of ghost" in one_line_error(capsys)
    assert "run the %%kmodule ghost cell first" in lab.shown_text()


def test_insmod_refusal_shows_errno_hint_and_log(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    build_hello(lab)
    error, line = run_failing(lab, capsys, "%insmod hello count=abc")
    assert isinstance(error, ModuleError)
    assert "Invalid parameters" in line
    view = lab.shown[-1]
    assert isinstance(view, ModuleErrorView)
    text = repr(view)
    assert "errno  EINVAL" in text
    assert "'abc' is not a valid value for parameter count of type int" in text
    assert "hello: 'abc' invalid for parameter 'count'" in text


def test_insmod_already_loaded_and_init_failure(lab: Lab) -> None:
    build_hello(lab, "--load")
    assert isinstance(lab.run("%insmod hello").error_in_exec, ModuleError)
    assert "already loaded" in repr(lab.shown[-1])
    lab.vm.behaviour["hello"] = lambda p: (-12, ["hello: no memory for the buffer"])
    lab.run("%rmmod hello")
    assert isinstance(lab.run("%insmod hello").error_in_exec, ModuleError)
    text = repr(lab.shown[-1])
    assert "errno  ENOMEM" in text and "init function returned -ENOMEM (-12)" in text


def test_insmod_rejects_a_bad_parameter_word(lab: Lab) -> None:
    build_hello(lab)
    assert isinstance(lab.run("%insmod hello 1=x").error_in_exec, ArgumentError)
    assert isinstance(lab.run('%insmod hello "unclosed').error_in_exec, ArgumentError)


# -- %rmmod, %lsmod, %modinfo, %modprobe ---------------------------------------------------


def test_rmmod_lsmod(lab: Lab) -> None:
    build_hello(lab, "--load")
    table = lab.run("%lsmod hel").result
    assert table.names == ["hello"] and "hello" in table
    assert lab.run("%lsmod virtio*").result.names == ["virtio_ring"]
    unloaded = lab.run("%rmmod hello").result
    assert repr(unloaded) == "hello unloaded\n  hello: exit"
    assert "hello" not in lab.run("%lsmod").result
    assert isinstance(lab.run("%rmmod hello").error_in_exec, ModuleError)
    assert "is not loaded" in repr(lab.shown[-1])


def test_modinfo_reads_own_builds_on_the_host_and_others_in_the_guest(lab: Lab) -> None:
    build_hello(lab)
    card = lab.run("%modinfo hello").result
    assert card.info.license == "GPL" and lab.vm.starts == 0
    bridge = lab.run("%modinfo bridge").result
    assert bridge.info.depends == ["stp", "llc"]
    assert "filename" in repr(bridge)
    assert isinstance(lab.run("%modinfo nosuch").error_in_exec, ModuleError)


def test_modprobe_resolves_learner_modules(lab: Lab) -> None:
    lab.vm.exports["provider_fn"] = "provider"
    lab.vm.needs["consumer"] = "provider_fn"
    lab.builder.exports["provider"] = "provider_fn"
    for name in ("provider", "consumer"):
        assert lab.run(f'%%kmodule {name} --install\nMODULE_LICENSE("GPL");').success
    # the consumer was built with the provider's Module.symvers
    assert lab.builder.calls[-1]["extra_symbols"] == [
        lab.session.workspace.builds["provider"].build_dir
    ]
    r = lab.run("%modprobe consumer").result
    assert r.loaded == ["provider", "consumer"]
    assert repr(r).startswith("modprobe consumer: loaded provider, consumer")
    assert "provider" in lab.run("%dmesg --since-load provider").result.log
    gone = lab.run("%modprobe -r consumer").result
    assert gone.removed == ["consumer", "provider"]


def test_unknown_symbol_names_the_exporting_module(lab: Lab) -> None:
    lab.vm.exports["provider_fn"] = "provider"
    lab.vm.needs["consumer"] = "provider_fn"
    lab.builder.exports["provider"] = "provider_fn"
    for name in ("provider", "consumer"):
        lab.run(f'%%kmodule {name}\nMODULE_LICENSE("GPL");')
    assert isinstance(lab.run("%insmod consumer").error_in_exec, ModuleError)
    assert "provider exports provider_fn: load it first (%insmod provider)" in repr(lab.shown[-1])


def test_unknown_symbol_hint_ignores_builds_of_other_notebooks(lab: Lab) -> None:
    from kernelmagic.workspace import Workspace

    lab.vm.needs["consumer"] = "provider_fn"
    lab.builder.exports["provider"] = "provider_fn"
    other = Workspace(lambda: lab.vm, builder=lab.builder)
    other.set_main("provider", 'MODULE_LICENSE("GPL");')
    other.build("provider")  # in the shared build cache, not in this notebook
    lab.run('%%kmodule consumer\nMODULE_LICENSE("GPL");')
    assert isinstance(lab.run("%insmod consumer").error_in_exec, ModuleError)
    text = repr(lab.shown[-1])
    assert "no module known here exports provider_fn" in text and "(%insmod" not in text


# -- %dmesg ------------------------------------------------------------------------------------


def test_dmesg_selects_by_count_level_and_load(lab: Lab) -> None:
    build_hello(lab, "--load")
    lab.vm.printk(3, "something failed")
    lab.vm.printk(7, "debug detail")
    everything = lab.run("%dmesg").result
    assert isinstance(everything, LogView)
    assert everything.messages[-1] == "debug detail"
    assert lab.run("%dmesg -n 2").result.messages == ["something failed", "debug detail"]
    assert lab.run("%dmesg --level err").result.messages == ["something failed"]
    warn_up = lab.run("%dmesg --level warning+").result.messages
    assert warn_up == ["hello: loading out-of-tree module taints kernel.", "something failed"]
    assert lab.run("%dmesg --level +info -n 1").result.messages == ["debug detail"]
    since = lab.run("%dmesg --since-load hello").result.messages
    assert since[-3:] == ["Hello, world!", "something failed", "debug detail"]
    text = repr(lab.run("%dmesg -n 1").result)
    assert text.endswith("] debug   debug detail") and text.startswith("[")


def test_dmesg_errors_and_clear(lab: Lab) -> None:
    assert isinstance(lab.run("%dmesg --level loud").error_in_exec, ArgumentError)
    assert isinstance(lab.run("%dmesg --since-load ghost").error_in_exec, ArgumentError)
    assert isinstance(lab.run("%dmesg -n 0").error_in_exec, ArgumentError)
    assert repr(lab.run("%dmesg --clear").result) == "kernel log cleared"
    assert lab.run("%dmesg").result.messages == []


def test_dmesg_truncates_with_a_count(lab: Lab) -> None:
    lab.session.vm  # noqa: B018 - boot it
    for i in range(250):
        lab.vm.printk(6, f"line {i}")
    view = lab.run("%dmesg").result
    assert view.omitted == 51 and len(view.records) == 200
    assert repr(view).startswith("... 51 earlier records left out")


def test_dmesg_follow_collects_new_records(lab: Lab) -> None:
    lab.session.vm  # noqa: B018
    lab.vm.printk(6, "old")
    polls = []

    def on_exec(argv: list[str]) -> None:
        if argv[1:2] == ["after"]:
            polls.append(argv)
            if len(polls) == 2:
                lab.vm.printk(6, "new one")

    lab.vm.on_exec = on_exec
    view = lab.run("%dmesg --follow 0.8").result
    assert view.messages == ["new one"]


# -- %vmsh ---------------------------------------------------------------------------------


def test_vmsh_line_and_cell(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []

    def shell(text: str) -> ExecResult:
        seen.append(text)
        if "false" in text:
            return ExecResult(1, "", "it failed\n")
        return ExecResult(0, "out\n")

    lab.vm.shell = shell
    r = lab.run("%vmsh cat /proc/version | head -1").result
    assert isinstance(r, ShellResult) and repr(r) == "out"
    assert seen[-1] == "cat /proc/version | head -1"
    assert lab.run("%%vmsh --timeout 5\ncd /sys\nls\n").success
    assert seen[-1] == "cd /sys\nls\n"
    error, line = run_failing(lab, capsys, "%vmsh false")
    assert isinstance(error, GuestCommandError)
    assert "false exited with status 1: it failed" in line
    assert repr(lab.shown[-1]) == "it failed\n[exit status 1]"
    assert isinstance(lab.run("%%vmsh --bogus\nls").error_in_exec, ArgumentError)
    assert isinstance(lab.run("%vmsh").error_in_exec, ArgumentError)


def test_vmsh_reads_module_parameters(lab: Lab) -> None:
    build_hello(lab)
    lab.run('%insmod hello name="Linux Enthusiast"')
    lab.vm.shell = lambda text: lab.vm.exec(text.split())
    assert repr(lab.run("%vmsh cat /sys/module/hello/parameters/name").result) == (
        "Linux Enthusiast"
    )


# -- the error boundary ----------------------------------------------------------------------


def test_ctrl_c_is_one_line(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    build_hello(lab)

    def interrupt(argv: list[str]) -> None:
        if argv[0] == "insmod":
            raise KeyboardInterrupt

    lab.session.vm  # noqa: B018
    lab.vm.on_exec = interrupt
    error, line = run_failing(lab, capsys, "%insmod hello")
    assert isinstance(error, KeyboardInterrupt)
    assert line.endswith(
        "KeyboardInterrupt\x1b[0m: %insmod interrupted while insmod hello ran: it may still "
        "be running in the lab VM; if it is stuck there, the next command restarts the lab "
        "VM first"
    )


def test_a_bug_of_ours_keeps_its_traceback(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    def bug(argv: list[str]) -> None:
        raise RuntimeError("a bug in kernelmagic")

    lab.session.vm  # noqa: B018
    lab.vm.on_exec = bug
    result = lab.run("%lsmod")
    assert isinstance(result.error_in_exec, RuntimeError)
    assert not hasattr(result.error_in_exec, "_render_traceback_")
    out = capsys.readouterr().out
    assert "Traceback" in out or "File " in out or len(out.splitlines()) > 3, out


def test_a_multi_line_message_still_fails_with_one_line(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    lab.vm.shell = lambda text: ExecResult(2, "", "first problem\nsecond problem\n")
    lab.session.vm  # noqa: B018
    error, line = run_failing(lab, capsys, "%vmsh broken")
    assert isinstance(error, GuestCommandError)
    assert line.endswith("broken exited with status 2: first problem [...]")
    assert "second problem" in repr(lab.shown[-1])


# -- the machine: %vm start --device, --smp, --memory ---------------------------------------


def test_vm_start_with_a_device_configures_the_next_boot(lab: Lab) -> None:
    notice = lab.run("%vm start --device edu").result
    assert repr(notice).startswith("lab VM ready in 1.4 s (tcg); 2 vCPUs, 256 MiB, device edu")
    assert lab.vm.configs[-1].devices == ("edu",)
    assert repr(lab.run("%vm start --device edu").result).startswith("lab VM already running")
    assert len(lab.vm.configs) == 1 and lab.vm.starts == 1


def test_another_machine_while_running_restarts_and_says_so(lab: Lab) -> None:
    lab.run("%vm start")
    lab.run("%insmod hello")
    notice = repr(lab.run("%vm restart --smp 1 --memory 512").result)
    assert notice.startswith("lab VM restarted as 1 vCPU, 512 MiB (was 2 vCPUs, 256 MiB): ready")
    assert lab.vm.starts == 2 and lab.vm.configs[-1].cpus == 1
    assert "hello" not in lab.vm.modules
    # The Python API lessons call, from their first cell:
    back = lab.session.configure(cpus=2, memory_mb=256)
    assert back is not None and "restarted as 2 vCPUs, 256 MiB" in repr(back)
    assert lab.session.configure(cpus=2) is None  # nothing changed: nothing restarts


def test_bad_machine_options_are_one_line_and_change_nothing(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    for code, words in [
        ("%vm start --smp 99", "%vm start: --smp 99: the lab VM takes 1 to 8 vCPUs"),
        ("%vm stop --device edu", "go with start or restart"),
        ("%vm restart --device edu,addr=3", "options after a comma are not taken"),
        ("%vm start --memory 1", "give MiB from 128"),
    ]:
        error, line = run_failing(lab, capsys, code)
        assert isinstance(error, ArgumentError) and words in line, (code, line)
    assert lab.vm.starts == 0 and lab.session.config.describe() == "2 vCPUs, 256 MiB"


# -- %%userprog ------------------------------------------------------------------------------


def test_userprog_builds_and_vmsh_finds_it_on_the_path(lab: Lab) -> None:
    from kernelmagic.kbuild.userprog import bin_dir
    from kernelmagic.machine.share import GUEST_BIN

    result = lab.run("%%userprog kmt_hi\nint main(void) { return 0; }\n").result
    assert repr(result) == "user program kmt_hi built (static): run it in the guest as kmt_hi"
    assert (bin_dir() / "kmt_hi").is_file()
    seen: list[list[str]] = []
    lab.vm.on_exec = seen.append
    lab.run("%vmsh kmt_hi")
    [argv] = [a for a in seen if a[-1] == "kmt_hi"]
    assert f"PATH={GUEST_BIN}:" in " ".join(argv)


def test_userprog_errors_are_at_their_cell_line(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    error, line = run_failing(
        lab, capsys, "%%userprog kmt_bad\nint main(void)\n{\n\treturn x;\n}\n"
    )
    assert isinstance(error, BuildError) and "kmt_bad did not build: 1 error" in line
    text = repr(lab.shown[-1])
    assert "cell line 4: error:" in text and "    4 |         return x;" in text
    error, line = run_failing(lab, capsys, '%%userprog kmt_x --cflags "-fplugin=x.so"\nint x;\n')
    assert isinstance(error, ArgumentError) and "not allowed" in line
