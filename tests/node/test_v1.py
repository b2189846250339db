"""Code written for daffi 1.x runs unchanged: its spellings, and three bugs it found, with real processes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import daffi
import daffi.async_result
import daffi.decorators
import daffi.exceptions
import daffi.execution_modifiers
import daffi.globals
import daffi.remote_call
import pytest
import trio
from daffi import (
    BG,
    BROADCAST,
    FG,
    PERIOD,
    STREAM,
    AsyncResult,
    GlobalContextError,
    InitializationError,
    RemoteCallError,
    RetryPolicy,
    ScheduledTask,
    UnableToFindCandidate,
    __body_unknown__,
    callback_and_fetcher,
    fetcher,
)
from daffi._registry import REGISTRY

from tests.support.nodes import caller, wait_until
from tests.support.procs import SERVICES, Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats


@fetcher(BG(eta=0.2))
async def add(a: int, b: int) -> int:
    __body_unknown__(a, b)
    return 0  # never run


@fetcher
async def collect_one(item: int) -> None:
    __body_unknown__(item)


@fetcher(FG)
def whoami() -> str:
    return ""  # never run


# -- the three bugs


def test_awaiting_an_async_bg_fetcher_gives_its_async_result(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        g.wait_function("add", timeout=10)

        async def main() -> list[int]:
            ares = await add(5, 15)  # 1.x: "bg returns instance of AsyncResult"
            assert isinstance(ares, AsyncResult)
            later = add(1, 2)  # without await: the same object
            assert isinstance(later, AsyncResult)
            return [ares.get(timeout=10), await later.get_async(timeout=10)]

        assert asyncio.run(main()) == [20, 3]
        assert trio.run(main) == [20, 3]


def _slow_items(count: int, gap: float) -> Iterator[int]:
    for i in range(count):
        time.sleep(gap)  # the producer is slow: the stream outlasts stop()'s grace for open calls
        yield i


def test_a_stream_from_sync_code_through_an_async_fetcher_delivers_every_item(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        g.wait_function("collect_one", timeout=10)
        collect_one(_slow_items(4, 0.7)) & STREAM  # sync code: returns once every item was processed
    # the Global above has stopped (the 1.x example calls g.stop() right after the stream)
    with caller(controller) as g:
        assert g.call.received() & FG == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("mode", "sig"),
    [("join-in-asyncio", signal.SIGINT), ("join-async", signal.SIGINT), ("join-async", signal.SIGTERM)],
)
def test_join_inside_asyncio_run_stops_on_a_signal(procs: Procs, tmp_path: Path, mode: str, sig: int) -> None:
    sock = tmp_path / "ctl.sock"
    proc = procs.python(str(SERVICES / "v1_scripts.py"), "--mode", mode, "--unix-sock-path", str(sock))
    proc.wait_line("READY")
    if mode == "join-in-asyncio":
        proc.wait_line("is serving")  # join() logs it once its SIGINT handler is in place
    assert sock.exists()
    proc.signal(sig)
    assert proc.wait(10) == 0, proc.output
    assert "STOPPED" in proc.output
    assert not sock.exists()  # released


# -- the surface of 1.x


def test_a_controller_given_a_host_and_no_port_binds_a_free_one(procs: Procs) -> None:
    with daffi.Global(process_name="caller", host="127.0.0.1", init_controller=True, transport="socket") as g:
        assert isinstance(g.port, int) and g.port > 0
        assert (g.host, g.init_controller, g.init_node) == ("127.0.0.1", True, True)
        where = Where(host="127.0.0.1", port=g.port, transport="socket")
        procs.service(where, "svc")
        g.wait_function("add", timeout=10)
        assert g.call.add(2, 3) & FG == 5


def test_the_call_methods_and_the_per_call_modifier_keyword(procs: Procs, controller: Where) -> None:
    procs.service(controller, "a")
    procs.service(controller, "b")
    with caller(controller) as g:
        g.wait_process("a", timeout=10)
        g.wait_process("b", timeout=10)
        assert (g.host, g.port, g.init_controller, g.init_node) == (controller.host, controller.port, False, True)
        assert g.call.add(1, 2).fg(timeout=10) == 3
        background = g.call.add(2, 2).bg(eta=0.1)
        assert isinstance(background, AsyncResult) and background.get(timeout=10) == 4
        assert g.call.whoami().broadcast(timeout=10) == {"a": "a", "b": "b"}
        task = g.call.tick().period(interval=0.2)
        assert isinstance(task, ScheduledTask)
        wait_until(lambda: sum((g.call.ticks() & BROADCAST).values()) >= 2, what="the task ticked")
        assert task.cancel() is True
        g.call.collect_one([7, 8]).stream()
        assert g.call.received() & BROADCAST == {"a": [7, 8], "b": [7, 8]}

        # no_return: fire and forget, as return_result=False
        assert BG(no_return=True).return_result is False and BROADCAST(no_return=True).return_result is False
        g.call.collect_one(9).bg(no_return=True)
        wait_until(
            lambda: any(9 in got for got in (g.call.received() & BROADCAST).values()),
            what="the fire-and-forget call",
        )

        # f(..., __exec_modifier__=...) overrides the decorator's modifier and never reaches the callee
        later = whoami(__exec_modifier__=BG)
        assert isinstance(later, AsyncResult) and later.get(timeout=10) in {"a", "b"}
        assert whoami(__exec_modifier__=BROADCAST(timeout=10)) == {"a": "a", "b": "b"}
        assert g.call.add(3, 4, __exec_modifier__=FG) == 7
        with pytest.raises(InitializationError, match="__exec_modifier__"):
            whoami(__exec_modifier__="FG")


def test_a_node_written_for_1x(procs: Procs, controller: Where) -> None:
    a = procs.service(controller, "v1a", "v1_node.py")
    procs.service(controller, "v1b", "v1_node.py")
    # a callback taking g, called locally before any Global runs
    assert "NO-G no Global is running in this process" in a.output
    with caller(controller) as g:
        g.wait_process("v1a", timeout=10)
        g.wait_process("v1b", timeout=10)
        # callback_and_fetcher(FG): called locally, it runs the other node's copy
        asked, answered = g.call.ask_peer() & FG
        assert {asked, answered} == {"v1a", "v1b"}
        # ... and on a class
        text = g.call.greet_via_peer("Ann") & FG
        assert text in {"v1a greets Ann", "v1b greets Ann"} and not text.startswith(g.call.whoami_v1() & FG)
        # a local call of a callback taking g gets the running Global
        assert sorted((g.call.local_g() & BROADCAST).values()) == ["v1a", "v1b"]


def test_retry_policy_and_unable_to_find_candidate(procs: Procs, controller: Where) -> None:
    procs.service(controller, "v1a", "v1_node.py")
    with caller(controller) as g:
        g.wait_process("v1a", timeout=10)
        retry = RetryPolicy(RemoteCallError, stop_after_attempt=5, wait=0.05, str_expression="flaky")
        assert g.call.flaky("k1", 2) & FG(retry_policy=retry) == "ok after 3"
        assert g.call.flaky("k2", 1).fg(retry_policy=retry) == "ok after 2"
        with pytest.raises(RemoteCallError, match="flaky k3 call 1"):  # the message does not match: no retry
            g.call.flaky("k3", 1) & FG(retry_policy=RetryPolicy(RemoteCallError, wait=0, str_expression="other"))
        with pytest.raises(RemoteCallError, match="flaky k4 call 2"):  # out of attempts: the last error
            g.call.flaky("k4", 5) & FG(retry_policy=RetryPolicy(RemoteCallError, stop_after_attempt=2, wait=0))

        # no node offers it: UnableToFindCandidate, a GlobalContextError listing callbacks as registered
        with pytest.raises(UnableToFindCandidate) as raised:
            g.call.nowhere() & FG
        assert isinstance(raised.value, GlobalContextError)
        assert "process: v1a\n  - [ zeta_first, alpha_second, whoami_v1, ask_peer," in str(raised.value)


def test_kill_all_stops_every_connected_node(procs: Procs, controller: Where) -> None:
    nodes = [procs.service(controller, name) for name in ("k1", "k2")]
    with caller(controller) as g:
        g.wait_process("k2", timeout=10)
        assert g.kill_all() == ["k1", "k2"]
        for node in nodes:
            assert node.wait(10) == 0, node.output
            assert "node 'caller' asked every connected node to stop (kill_all)" in node.output
            assert "STOPPED" in node.output
        wait_until(lambda: not g.registered_callbacks, what="the nodes left")

    third = procs.service(controller, "k3")
    g = caller(controller)
    g.wait_process("k3", timeout=10)
    g.stop(kill_all_connected_nodes=True)
    assert third.wait(10) == 0 and "STOPPED k3" in third.output
    assert not g.is_running


def test_a_main_that_returns_without_join_stops_its_controller_and_says_so(procs: Procs, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    proc = procs.python(str(SERVICES / "v1_scripts.py"), "--mode", "main-returns", "--unix-sock-path", str(sock))
    assert proc.wait(15) == 0, proc.output
    assert "READY" in proc.output
    assert "is exiting while 'v1-returner' hosts the controller: stopping it; call g.join()" in proc.output
    assert not sock.exists()


# -- without the network


def test_aliases_are_the_public_api() -> None:
    assert daffi.decorators.callback is daffi.callback and daffi.decorators.fetcher is daffi.fetcher
    assert daffi.decorators.callback_and_fetcher is callback_and_fetcher
    assert daffi.decorators.__body_unknown__ is __body_unknown__
    for name in daffi.exceptions.__all__:
        assert getattr(daffi.exceptions, name) is getattr(daffi, name)
    assert issubclass(UnableToFindCandidate, GlobalContextError)
    for module in (daffi.remote_call, daffi.execution_modifiers):
        assert (module.FG, module.BG, module.BROADCAST, module.STREAM, module.PERIOD) == (
            FG,
            BG,
            BROADCAST,
            STREAM,
            PERIOD,
        )
        assert module.RetryPolicy is RetryPolicy
    assert daffi.globals.Global is daffi.Global and daffi.globals.get_g is daffi.get_g
    assert daffi.async_result.AsyncResult is AsyncResult
    with pytest.raises(InitializationError, match="no Global is running"):
        daffi.get_g()


def test_callback_and_fetcher_refuses_at_decoration_what_it_cannot_take() -> None:
    decorate = callback_and_fetcher(FG)
    assert callable(decorate) and REGISTRY.get("FG") is None  # a factory, not a callback named FG
    for bad in (42, "name", print):
        with pytest.raises(InitializationError, match="decorates a function or a class"):
            callback_and_fetcher(bad)  # type: ignore[arg-type]  # wrong on purpose
    with pytest.raises(InitializationError, match="lambda"):
        callback_and_fetcher(lambda: 1)
    with pytest.raises(GlobalContextError, match="PERIOD needs arguments"):
        callback_and_fetcher(PERIOD)
    with pytest.raises(InitializationError, match="async generator"):

        @callback_and_fetcher(FG)
        async def agen() -> object:  # an async generator cannot be a fetcher
            yield 1

    assert REGISTRY.get("agen") is None


def test_period_refuses_points_in_the_past() -> None:
    with pytest.raises(GlobalContextError, match="in the past"):
        PERIOD(at_time=time.time() - 10)
    with pytest.raises(GlobalContextError, match="in the past"):
        PERIOD(at_time=[time.time() + 60, time.time() - 1])
    assert PERIOD(at_time=time.time() + 60).at_time is not None
    with pytest.raises(InitializationError, match="exception classes"):
        RetryPolicy(acceptable_errors=42)  # type: ignore[arg-type]


def test_modifiers_take_the_1x_positional_order() -> None:
    policy = RetryPolicy(wait=0)
    assert FG(10, policy).retry_policy is policy
    background = BG(5, 1, policy)  # type: ignore[arg-type]  # 1.x: BG(timeout, eta, retry_policy, no_return)
    assert (background.timeout, background.eta, background.return_result) == (5.0, 1.0, True)
    assert background.retry_policy is policy
    with pytest.raises(GlobalContextError, match="return_result must be True or False"):
        BG(5, 1, "yes")  # type: ignore[arg-type]
