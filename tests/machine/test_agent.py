# SPDX-License-Identifier: MIT
"""GuestAgent against FakeAgentServer, which mimics qemu-ga 7.2 on the wire.

The fake's behaviour (0xFF parser reset and its complaint, delimited sync reply, echoed
ids, exec status polling, reaped pids) was checked against the real qemu-ga 7.2 binary.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator

import pytest

from kernelmagic.errors import AgentError, AgentTimeout, GuestCommandError, KernelCrashed
from kernelmagic.machine.agent import GuestAgent
from kernelmagic.machine.exec_result import ExecResult
from tests.doubles.fakes import FakeAgentError, FakeAgentServer


@pytest.fixture
def server() -> Iterator[FakeAgentServer]:
    server = FakeAgentServer()
    yield server
    server.stop()


@pytest.fixture
def agent(server: FakeAgentServer) -> Iterator[GuestAgent]:
    server.start()
    agent = GuestAgent(server.client_sock)
    agent.sync(5)
    yield agent
    agent.close()


def echo(argv: list[str], input: bytes | None) -> tuple[int, str, str]:
    return 0, " ".join(argv[1:]) + "\n", ""


# ---------------------------------------------------------------------- sync


def test_sync_skips_garbage_and_stale_replies(server: FakeAgentServer) -> None:
    server.start()
    agent = GuestAgent(server.client_sock)
    agent.sync(5)
    assert agent.call("guest-ping") == {}
    assert server.commands() == ["guest-sync-delimited", "guest-ping"]
    agent.close()


def test_sync_retries_until_the_agent_listens() -> None:
    with FakeAgentServer(deaf_for=0.5) as server:
        agent = GuestAgent(server.client_sock)
        started = time.monotonic()
        agent.sync(10)
        assert time.monotonic() - started >= 0.4
        assert agent.call("guest-ping") == {}
        agent.close()


def test_sync_times_out_when_nobody_answers(server: FakeAgentServer) -> None:
    server.silent = True
    server.start()
    agent = GuestAgent(server.client_sock)
    with pytest.raises(AgentTimeout, match="guest-sync-delimited"):
        agent.sync(0.7)
    time.sleep(0.05)
    assert server.commands().count("guest-sync-delimited") >= 3, "resent every ~0.2 s"
    agent.close()


def test_the_first_call_syncs_by_itself(server: FakeAgentServer) -> None:
    server.start()
    agent = GuestAgent(server.client_sock)
    assert agent.call("guest-ping") == {}
    assert server.commands() == ["guest-sync-delimited", "guest-ping"]
    agent.close()


# ---------------------------------------------------------------------- call


def test_call_returns_the_return_value(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on("guest-get-host-name", lambda args: {"host-name": "kernelmagic"})
    assert agent.call("guest-get-host-name") == {"host-name": "kernelmagic"}


def test_call_passes_arguments(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on("guest-file-open", lambda args: 1000 if args == {"path": "/proc/modules"} else -1)
    assert agent.call("guest-file-open", {"path": "/proc/modules"}) == 1000


def test_error_reply_raises_agent_error_with_class_and_desc(agent: GuestAgent) -> None:
    with pytest.raises(AgentError, match="guest-nope: CommandNotFound: The command guest-nope"):
        agent.call("guest-nope")
    assert agent.call("guest-ping") == {}, "the channel is still usable"


def test_handler_errors_become_agent_errors(server: FakeAgentServer, agent: GuestAgent) -> None:
    def refuse(args: dict) -> None:
        raise FakeAgentError("Permission denied")

    server.on("guest-file-open", refuse)
    with pytest.raises(AgentError, match="GenericError: Permission denied"):
        agent.call("guest-file-open", {"path": "/secret"})


def test_line_noise_between_calls_is_skipped(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.send_raw(b"\x00noise}{\n")
    server.send_raw(b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray x"}}\n')
    server.send_raw(b'{"return": {}, "id": "somebody-else"}\n')
    assert agent.call("guest-info")["version"] == "7.2.0-fake"


@pytest.mark.parametrize("echo_ids", [True, False], ids=["ids", "old-agent"])
def test_a_late_reply_to_a_timed_out_call_is_dropped(
    server: FakeAgentServer, agent: GuestAgent, echo_ids: bool
) -> None:
    server.echo_ids = echo_ids
    server.on("guest-get-time", lambda args: 1234)
    server.delays["guest-get-time"] = 0.5
    with pytest.raises(AgentTimeout, match="guest-get-time"):
        agent.call("guest-get-time", timeout=0.1)
    # The late 1234 must not be taken for the answer to the next call.
    assert agent.call("guest-ping", timeout=5) == {}
    assert server.commands()[-2:] == ["guest-sync-delimited", "guest-ping"]


def test_no_reply_commands(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.hang_commands.add("guest-shutdown")
    assert agent.call("guest-shutdown", {"mode": "powerdown"}, expect_reply=False) is None
    assert agent.call("guest-ping") == {}


# ---------------------------------------------------------------------- exec


def test_exec_polls_until_exit_and_decodes_output(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    server.on_exec(lambda argv, input: (0, b"6.1.0-56-amd64\n", b""), match="uname", polls=2)
    result = agent.exec(["uname", "-r"])
    assert result == (0, "6.1.0-56-amd64\n", "")
    code, out, err = result
    assert (code, out, err) == (result.exit_code, result.stdout, result.stderr)
    assert result.ok and result.signal is None and result.duration > 0
    assert server.commands().count("guest-exec-status") == 3


def test_exec_sends_argv_verbatim_with_input_and_env(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    server.on_exec(echo)
    argv = ["/sbin/insmod", "/mnt/host/hello.ko", 'name="Linux Enthusiast"', "x=$(reboot)"]
    agent.exec(argv, input=b"\x00\xffdata", env={"LANG": "C"})
    (call,) = server.exec_calls("insmod")
    assert call.argv == argv
    assert call.input == b"\x00\xffdata"
    assert call.env == ["LANG=C"]
    request = next(r for r in server.requests if r["execute"] == "guest-exec")
    assert request["arguments"]["path"] == "/sbin/insmod"
    assert request["arguments"]["capture-output"] is True


def test_exec_output_that_is_not_utf8_is_replaced(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    server.on_exec(lambda argv, input: (1, b"ok \xff\xfe", "caf\u00e9".encode()))
    assert agent.exec(["cat", "/dev/weird"]) == (1, "ok \ufffd\ufffd", "caf\u00e9")


def test_exec_check_raises_guest_command_error(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on_exec(
        lambda argv, input: (
            1,
            "",
            "insmod: ERROR: could not insert module x.ko: Invalid parameters\n",
        ),
        match="insmod",
    )
    assert agent.exec(["insmod", "x.ko"]).exit_code == 1
    with pytest.raises(GuestCommandError, match="Invalid parameters") as info:
        agent.exec(["insmod", "x.ko"], check=True)
    assert info.value.argv == ["insmod", "x.ko"]
    assert info.value.exit_code == 1


def test_exec_reports_a_killing_signal(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on_exec(lambda argv, input: {"signal": 9}, match="insmod")
    result = agent.exec(["insmod", "/mnt/host/crash.ko"])
    assert result.exit_code == 137 and result.signal == 9 and not result.ok
    with pytest.raises(GuestCommandError, match="status 137"):
        agent.exec(["insmod", "/mnt/host/crash.ko"], check=True)


def test_exec_of_a_missing_program_is_an_agent_error(agent: GuestAgent) -> None:
    with pytest.raises(AgentError, match="No such file or directory"):
        agent.exec(["/no/such/program"])


def test_exec_rules_pick_the_newest_match(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on_exec(lambda argv, input: (0, "any\n", ""))
    server.on_exec(lambda argv, input: (0, "lsmod\n", ""), match=["lsmod"])
    server.on_exec(lambda argv, input: (0, "modules\n", ""), match=["cat", "/proc/modules"])
    assert agent.exec(["/sbin/lsmod"]).stdout == "lsmod\n"
    assert agent.exec(["cat", "/proc/modules"]).stdout == "modules\n"
    assert agent.exec(["cat", "/proc/version"]).stdout == "any\n"


def test_exec_timeout_kills_the_guest_process(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on_exec(echo, match="echo")
    server.on_exec(echo, match="sleep", hang=True)
    started = time.monotonic()
    with pytest.raises(AgentTimeout, match=r"sleep 100 did not finish within 0\.3 s"):
        agent.exec(["sleep", "100"], timeout=0.3)
    assert time.monotonic() - started < 5
    (sleeper,) = server.exec_calls("sleep")
    (kill,) = server.exec_calls("kill")
    assert kill.argv == ["/bin/kill", "-9", str(sleeper.pid)]
    assert agent.exec(["echo", "still", "fine"]).stdout == "still fine\n"


def test_spawn_returns_at_once_and_exec_status_collects(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    """What a watched command uses: start it, ask about it between other calls."""
    server.on_exec(echo, match="echo", polls=2)
    pid = agent.spawn(["echo", "watched"])
    assert agent.exec_status(pid) is None  # still running, twice
    assert agent.call("guest-ping") == {}  # other exchanges go on meanwhile
    assert agent.exec_status(pid) is None
    result = agent.exec_status(pid)
    assert result == (0, "watched\n", "")
    with pytest.raises(AgentError, match="Invalid parameter 'pid'"):
        agent.exec_status(pid)  # collected: the agent forgot it


def test_exec_status_of_a_silent_agent_times_out(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    server.on_exec(echo, match="echo", hang=True)
    pid = agent.spawn(["echo", "x"])
    server.silent = True
    started = time.monotonic()
    with pytest.raises(AgentTimeout):
        agent.exec_status(pid, timeout=0.3)
    assert time.monotonic() - started < 2


def test_exec_rejects_an_empty_argv(agent: GuestAgent) -> None:
    with pytest.raises(ValueError):
        agent.exec([])


def test_concurrent_execs_get_their_own_results(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.on_exec(echo, polls=1)
    results: dict[int, str] = {}

    def worker(n: int) -> None:
        for i in range(10):
            results[n * 100 + i] = agent.exec(["echo", str(n * 100 + i)]).stdout

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 60
    assert all(out == f"{key}\n" for key, out in results.items())


# ---------------------------------------------------------------------- failure paths


def test_end_of_file_raises_agent_error(server: FakeAgentServer, agent: GuestAgent) -> None:
    server.close()
    with pytest.raises(AgentError, match="guest agent connection closed"):
        agent.call("guest-ping")
    assert agent.closed
    with pytest.raises(AgentError, match="connection closed"):
        agent.call("guest-ping")


def test_end_of_file_asks_abort_check_first(server: FakeAgentServer) -> None:
    server.start()
    qemu_exited = threading.Event()

    def abort_check() -> None:
        if qemu_exited.is_set():
            raise KernelCrashed("Kernel panic - not syncing: boom", report="...")

    agent = GuestAgent(server.client_sock, abort_check=abort_check)
    agent.sync(5)
    server.hang_commands.add("guest-exec-status")
    server.on_exec(echo)

    def crash() -> None:
        server.close()
        time.sleep(0.1)  # QEMU is reaped a little after its sockets close
        qemu_exited.set()

    threading.Timer(0.1, crash).start()
    with pytest.raises(KernelCrashed, match="boom"):
        agent.exec(["insmod", "/mnt/host/panic.ko"], timeout=30)
    agent.close()


def test_abort_check_cuts_a_wait_short(server: FakeAgentServer) -> None:
    server.start()
    started = time.monotonic()

    def abort_check() -> None:
        if time.monotonic() - started > 0.3:
            raise KernelCrashed("soft lockup")

    agent = GuestAgent(server.client_sock, abort_check=abort_check)
    agent.sync(5)
    server.silent = True
    with pytest.raises(KernelCrashed):
        agent.call("guest-ping", timeout=30)
    assert time.monotonic() - started < 5
    # The exchange was cut short: the next call resynchronises first.
    server.silent = False
    agent._abort_check = None
    assert agent.call("guest-ping") == {}
    assert server.commands()[-2:] == ["guest-sync-delimited", "guest-ping"]
    agent.close()


def test_close_is_safe_twice_and_later_calls_fail(agent: GuestAgent) -> None:
    agent.close()
    agent.close()
    assert agent.closed
    with pytest.raises(AgentError, match="closed"):
        agent.call("guest-ping")


def test_close_from_another_thread_wakes_a_waiting_call(
    server: FakeAgentServer, agent: GuestAgent
) -> None:
    server.silent = True
    threading.Timer(0.2, agent.close).start()
    started = time.monotonic()
    with pytest.raises(AgentError, match="closed"):
        agent.call("guest-ping", timeout=30)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------- ExecResult


def test_exec_result_is_a_three_tuple_with_extras() -> None:
    result = ExecResult(1, "out", "err", signal=None, duration=0.25)
    assert result == (1, "out", "err")
    assert result[:3] == (1, "out", "err")
    code, out, err = result
    assert (code, out, err) == (1, "out", "err")
    assert result.duration == 0.25 and not result.ok
    copy = pickle.loads(pickle.dumps(ExecResult(137, "", "", signal=9, duration=0.5)))
    assert (copy, copy.signal, copy.duration) == ((137, "", ""), 9, 0.5)
    assert "signal=9" in repr(copy)
    assert ExecResult(0, "", "").ok
