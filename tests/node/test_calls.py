"""Call semantics with real processes: modifiers, fetchers, routing, errors, timeouts, big payloads.

Each test runs over TCP and over a UNIX socket (the ``controller`` fixture). The test process is
the caller (``Global(process_name="caller")``); the callees are tests/services/*.py processes.
"""

from __future__ import annotations

import builtins
import itertools
import os
import re
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import daffi
import daffi_controller
import daffi_core
import pytest
from daffi import (
    BG,
    BROADCAST,
    FG,
    PERIOD,
    Args,
    AsyncResult,
    GlobalContextError,
    RemoteCallError,
    __body_unknown__,
    callback,
    fetcher,
)
from daffi._registry import REGISTRY

from tests.support.nodes import caller, wait_until
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

# -- module-level fetchers (the usual way to declare them)


@fetcher(FG)
def add(a: int, b: int) -> int:
    __body_unknown__(a, b)
    return 0  # never run


@fetcher
def whoami() -> str:
    __body_unknown__()
    return ""  # never run


@fetcher(FG(timeout=5))
def echo(data: Any) -> Any:
    __body_unknown__(data)


# -- FG, fetchers, modifiers


def test_fg_result_and_proxy_fetcher(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert g.call.add(2, 3) & FG == 5
        assert add(5, 15) == 20  # @fetcher(FG) with __body_unknown__
        assert add(a=1, b=2) == 3
        assert echo({"k": [1, 2]}) == {"k": [1, 2]}  # @fetcher(FG(timeout=5))


def test_fetcher_args_from_body(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")

    @fetcher(exec_modifier=FG, args_from_body=True)
    def add(multiplier: int) -> tuple[int, int]:  # a tuple: the callback's two arguments
        return 5 * multiplier, 10 * multiplier

    @fetcher(FG, args_from_body=True)
    def echo(x: int) -> dict[str, int]:  # a single value: the callback's one argument
        return {"x": x}

    @fetcher(FG, args_from_body=True)
    def collect(x: int) -> Args:  # Args: positional and keyword arguments
        return Args(x, b=x * 2)

    with caller(controller) as g:
        assert add(multiplier=2) == 30
        assert echo(3) == {"x": 3}
        assert collect(7) is None
        assert g.call.received() & FG == [(7, 14)]


def test_bare_fetcher_and_per_call_override(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller):
        call = whoami()  # bare @fetcher: the call waits for its modifier
        assert not isinstance(call, str)
        assert call & FG == "svc"
        assert whoami() & FG(timeout=5) == "svc"
        result = add.call(20, 22) & BG  # overrides the decorator's FG
        assert isinstance(result, AsyncResult)
        assert result.get(timeout=10) == 42
        # The decorator's FG already ran: a modifier after & is a clear error, not a TypeError.
        for modifier in (BG, BG(timeout=5), FG):
            with pytest.raises(GlobalContextError, match=r"already ran.*f\.call"):
                add(1, 2) & modifier


def test_modifier_class_or_instance_after_and(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert g.call.add(1, 2) & FG == 3
        assert g.call.add(1, 2) & FG() == 3
        assert g.call.add(1, 2) & FG(timeout=5) == 3
        assert g.call.add(a=4, b=5) & FG(timeout="5s") == 9
        with pytest.raises(GlobalContextError):
            g.call.add(1, 2) & int  # type: ignore[operator]  # not a modifier, on purpose


# -- BG


def test_bg_async_result(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        result = g.call.add(1, 2) & BG
        assert isinstance(result, AsyncResult)
        assert result.get() == 3
        assert result.get(timeout=5) == 3  # a settled result can be read again
        assert (g.call.whoami() & BG(timeout=5)).get(timeout=5) == "svc"

        pending = g.call.slow(1.5) & BG
        start = time.monotonic()
        with pytest.raises(daffi.TimeoutError):
            pending.get(timeout=0.3)
        assert time.monotonic() - start < 2.0
        assert pending.get(timeout=10) == "svc"  # the call itself went on


def test_bg_eta_delays(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        g.call.add(0, 0) & FG  # warm up: connection and signature known
        eta = 1.0
        start = time.monotonic()
        result = g.call.add(1, 1) & BG(eta=eta)
        assert result.get(timeout=10) == 2
        elapsed = time.monotonic() - start
        assert elapsed >= eta - 0.02, elapsed
        assert elapsed < eta + 5


def test_bg_without_result(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        start = time.monotonic()
        g.call.collect("fire", "forget") & BG(return_result=False)
        assert time.monotonic() - start < 3.0
        wait_until(lambda: g.call.received() & FG == [("fire", "forget")], what="the callback ran")


# -- BROADCAST


def test_broadcast_gathers_every_other_node(procs: Procs, controller: Where) -> None:
    for name in ("n1", "n2", "n3"):
        procs.service(controller, name)
    with caller(controller) as g:
        assert g.call.whoami() & BROADCAST == {"n1": "n1", "n2": "n2", "n3": "n3"}
        assert g.call.add(1, 1) & BROADCAST(timeout=5) == {"n1": 2, "n2": 2, "n3": 2}


def test_broadcast_failure_is_raised_with_results(procs: Procs, controller: Where) -> None:
    procs.service(controller, "n1", "service.py", "--with-instance")
    procs.service(controller, "n2", "service.py", "--with-instance")
    procs.service(controller, "n3")  # no Counter instance: incr fails there
    with caller(controller) as g:
        with pytest.raises(RemoteCallError) as info:
            g.call.incr(1) & BROADCAST
        assert "not initialized" in str(info.value)
        results = info.value.results  # type: ignore[attr-defined]
        assert results["n1"] == 11
        assert results["n2"] == 11
        assert isinstance(results["n3"], RemoteCallError)


# -- routing


def test_round_robin(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc1")
    procs.service(controller, "svc2")
    with caller(controller) as g:
        names = [g.call.whoami() & FG for _ in range(10)]
    assert Counter(names) == {"svc1": 5, "svc2": 5}
    assert all(a != b for a, b in itertools.pairwise(names)), names  # they alternate


@pytest.fixture
def local_whoami() -> Iterator[None]:
    """Registers ``whoami`` in the test process for one test, then removes it."""

    @callback
    def whoami() -> str:
        return "caller"

    try:
        yield
    finally:
        REGISTRY._callbacks.pop("whoami", None)


def test_call_never_goes_back_to_caller(procs: Procs, controller: Where, local_whoami: None) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert [g.call.whoami() & FG for _ in range(4)] == ["svc"] * 4
        assert g.call.whoami() & BROADCAST == {"svc": "svc"}


def test_callback_and_fetcher_reaches_the_other_node(procs: Procs, controller: Where) -> None:
    procs.service(controller, "p1", "calls_peer.py")
    procs.service(controller, "p2", "calls_peer.py")
    with caller(controller) as g:
        assert g.call.ask_peer() & BROADCAST == {"p1": "p2", "p2": "p1"}


# -- errors


def test_remote_exception(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g, pytest.raises(RemoteCallError) as info:
        g.call.boom("it broke") & FG
    err = info.value
    assert isinstance(err, daffi.DaffiError)
    assert err.type_name == "ValueError"
    assert err.remote_message == "it broke"
    assert err.process_name == "svc"
    assert "it broke" in str(err)
    tb = err.remote_traceback
    assert "boom" in tb
    assert "ValueError: it broke" in tb
    frames = [line for line in tb.splitlines() if line.strip().startswith("File ")]
    assert frames, tb
    # The user's frame comes first: no daffi internals before it.
    assert Path(_frame_file(frames[0])).name == "service.py", tb
    assert frames[0].rstrip().endswith("in boom"), tb
    assert not [f for f in frames if _is_library_file(_frame_file(f))], tb


#: Where library code lives: daffi's own packages (wherever they are installed or checked out)
#: and the interpreter's site-packages. Computed from the modules, so the checkout's folder name
#: (a clone in a folder named ``daffi``) does not matter.
LIBRARY_DIRS = sorted(
    {Path(module.__file__ or "").resolve().parent for module in (daffi, daffi_core, daffi_controller)}
    | {Path(sysconfig.get_path(key)).resolve() for key in ("purelib", "platlib")}
)


def _frame_file(frame: str) -> str:
    """The file of a traceback line ``File "<path>", line N, in <name>``."""
    found = re.search(r'File "([^"]+)"', frame)
    assert found, frame
    return found.group(1)


def _is_library_file(path: str) -> bool:
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(lib) for lib in LIBRARY_DIRS)


def test_unknown_callback_lists_other_nodes_callbacks(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        start = time.monotonic()
        with pytest.raises(GlobalContextError) as info:
            g.call.no_such_callback() & FG
        assert time.monotonic() - start < 10
    message = str(info.value)
    assert "no_such_callback" in message
    assert "svc" in message
    for name in ("add", "whoami", "count_up"):
        assert name in message, message


def test_wrong_arguments_show_signature(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        with pytest.raises(GlobalContextError) as info:
            g.call.add(1) & FG
        assert "Function signature: def add(a: int, b: int) -> int" in str(info.value)
        with pytest.raises(GlobalContextError) as info:
            g.call.add(1, 2, 3) & BG
        assert "Function signature: def add(a: int, b: int) -> int" in str(info.value)
        assert g.call.add(1, 2) & FG == 3  # the node is still fine


def test_fg_timeout(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        g.call.add(0, 0) & FG  # warm up
        start = time.monotonic()
        with pytest.raises(daffi.TimeoutError) as info:
            g.call.slow(5) & FG(timeout=0.5)
        elapsed = time.monotonic() - start
    assert isinstance(info.value, builtins.TimeoutError)
    assert 0.4 <= elapsed < 2.0, elapsed


@pytest.mark.slow
def test_big_payload_round_trip(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    data = os.urandom(64 * 1024 * 1024)
    with caller(controller) as g:
        back = g.call.echo(data) & FG(timeout=60)
    assert type(back) is bytes
    assert len(back) == len(data)
    assert back == data


def test_unserializable_result(procs: Procs, controller: Where) -> None:
    procs.service(controller, "x", "calls_extra.py")
    with caller(controller) as g:
        with pytest.raises(RemoteCallError) as info:
            g.call.unpicklable() & FG
        assert info.value.type_name == "TypeError"
        assert "cannot be serialized" in str(info.value)
        assert g.call.alive() & FG == "x"


def test_base_exceptions_in_callbacks_do_not_kill_the_node(procs: Procs, controller: Where) -> None:
    """SystemExit/KeyboardInterrupt raised by user code come back as errors; the node keeps serving."""
    procs.service(controller, "x", "calls_extra.py")

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    def unprintable() -> None:
        raise Unprintable()

    def exits() -> None:
        raise SystemExit(5)

    with caller(controller) as g:
        cases: list[tuple[Callable[[], Any], str]] = [
            (lambda: g.call.exits(3) & BG, "SystemExit"),
            (lambda: g.call.interrupts() & BG, "KeyboardInterrupt"),
            (lambda: g.call.async_exits(4) & BG, "SystemExit"),
        ]
        for start_call, type_name in cases:
            with pytest.raises(RemoteCallError) as info:
                start_call().get(timeout=10)
            assert info.value.type_name == type_name
            assert (g.call.alive() & BG).get(timeout=10) == "x"
            assert (g.call.async_alive() & BG).get(timeout=10) == "x"

        with pytest.raises(RemoteCallError) as info:
            g.transfer_and_call("x", exits)
        assert info.value.type_name == "SystemExit"
        with pytest.raises(RemoteCallError) as info:
            g.transfer_and_call("x", unprintable)
        assert info.value.type_name == "Unprintable"

        # a scheduled run that raises SystemExit does not stop the node either
        g.call.exits(1) & PERIOD(at_time=[time.time() + 0.1])
        wait_until(lambda: g.get_scheduled_tasks("x") == [], what="the scheduled run")
        assert (g.call.alive() & BG).get(timeout=10) == "x"
        assert (g.call.async_alive() & BG).get(timeout=10) == "x"


def test_keyword_only_and_var_arguments(procs: Procs, controller: Where) -> None:
    procs.service(controller, "x", "calls_extra.py")
    with caller(controller) as g:
        assert g.call.kw_only(2, scale=3, extra_flag=True) & FG == {"a": 6, "extra": {"extra_flag": True}}
        assert g.call.varargs(1, "two", [3]) & FG == [1, "two", [3]]
        assert g.call.varargs() & FG == []
        with pytest.raises(GlobalContextError):
            g.call.kw_only(1, 2) & FG  # scale is keyword-only


def test_node_gone_during_call(procs: Procs, controller: Where) -> None:
    svc = procs.service(controller, "x", "calls_extra.py")
    with caller(controller) as g:
        pending = g.call.hang_noisy() & BG
        svc.wait_line("HANGING", timeout=10)  # the call is running on the callee
        assert not pending.ready
        svc.kill()
        start = time.monotonic()
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=15)
        assert time.monotonic() - start < 10


def test_concurrent_calls_from_threads(procs: Procs, controller: Where) -> None:
    procs.service(controller, "a")
    procs.service(controller, "b")
    with caller(controller) as g, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: g.call.add(i, i) & FG, range(1000)))
        names = list(pool.map(lambda _: g.call.whoami() & FG, range(100)))
    assert results == [2 * i for i in range(1000)]
    assert set(names) == {"a", "b"}
