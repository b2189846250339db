"""Faults with real processes: nodes and controllers killed, restarted, interrupted, busy addresses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest
from daffi import (
    BG,
    FG,
    DaffiError,
    Global,
    GlobalContextError,
    InitializationError,
    RemoteStoppedUnexpectedly,
)

from tests.support.nodes import wait_until
from tests.support.procs import Proc, Procs, Where

T = TypeVar("T")
FAULTS = "service.py"  # slow and hang print BEGIN lines the fault tests wait for


def in_thread(fn: Callable[[], T]) -> Future[T]:
    """Run ``fn`` in a daemon thread; a hang shows up as a ``result(timeout)`` failure, not a stuck test."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="test-call", daemon=True).start()
    return future


def outcome(future: Future[Any], timeout: float) -> tuple[Any, BaseException | None, float]:
    """(result, exception, seconds waited) of ``future``; fails the test if it takes longer than ``timeout``."""
    began = time.monotonic()
    try:
        exc = future.exception(timeout)
    except TimeoutError:
        pytest.fail(f"the call was still blocked after {timeout} s")
    took = time.monotonic() - began
    return (None if exc else future.result()), exc, took


def daffi_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("daffi")]


def exit_code(proc: Proc, timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.argv} did not exit within {timeout} s:\n{proc.output}")


# ---------------------------------------------------------------- a node dies


def test_callee_killed_during_call(procs: Procs, controller: Where) -> None:
    callee = procs.service(controller, "svc", FAULTS)
    with Global(process_name="caller", **controller.kwargs) as g:
        call = in_thread(lambda: g.call.slow(30) & FG)
        callee.wait_line("BEGIN slow svc", timeout=15)
        callee.kill()
        _, exc, took = outcome(call, 10)
        assert isinstance(exc, RemoteStoppedUnexpectedly), repr(exc)
        assert took < 5, f"took {took:.1f} s"


def test_calls_go_to_the_survivor(procs: Procs, controller: Where) -> None:
    a = procs.service(controller, "a", FAULTS)
    procs.service(controller, "b", FAULTS)
    with Global(process_name="caller", **controller.kwargs) as g:
        g.wait_process("a", timeout=10)
        g.wait_process("b", timeout=10)
        assert {g.call.whoami() & FG for _ in range(4)} == {"a", "b"}
        a.kill()
        # Right after the kill a call may still be on its way to "a": it fails, never hangs.
        for _ in range(5):
            result, exc, _ = outcome(in_thread(lambda: g.call.whoami() & FG), 10)
            assert (exc is None and result == "b") or isinstance(exc, RemoteStoppedUnexpectedly), (result, exc)
        wait_until(lambda: "a" not in g.registered_callbacks, 10, "'a' left the catalog")
        assert [g.call.whoami() & FG for _ in range(6)] == ["b"] * 6


# ---------------------------------------------------------------- the controller dies


def test_controller_killed_and_restarted(procs: Procs, where: Where) -> None:
    ctl = procs.controller(where)
    svc = procs.service(where, "svc")
    with Global(process_name="caller", connect_timeout=10, **where.kwargs) as g:
        assert g.call.add(1, 2) & FG == 3
        ctl.kill()
        wait_until(lambda: not g._node.connected if g._node else False, 10, "the caller noticed the outage")

        # During the outage a call fails with a daffi error, within a bound.
        _, exc, took = outcome(in_thread(lambda: g.call.add(1, 2) & FG), 20)
        assert isinstance(exc, (RemoteStoppedUnexpectedly, GlobalContextError)), repr(exc)
        assert took < 10, f"the call during the outage took {took:.1f} s to fail"

        procs.controller(where)
        deadline = time.monotonic() + 30
        errors: list[BaseException] = []
        while True:
            result, exc, _ = outcome(in_thread(lambda: g.call.add(1, 2) & FG), 20)
            if exc is None:
                assert result == 3
                break
            assert isinstance(exc, (RemoteStoppedUnexpectedly, GlobalContextError)), repr(exc)
            errors.append(exc)
            assert time.monotonic() < deadline, f"no working call 30 s after the restart: {errors[-3:]}"
        # The service re-announced its callbacks on the new controller.
        assert "add" in g.registered_callbacks.get("svc", []), g.registered_callbacks
        assert svc.popen.poll() is None, svc.output


def test_call_in_flight_when_controller_dies(procs: Procs, where: Where) -> None:
    ctl = procs.controller(where)
    callee = procs.service(where, "svc", FAULTS)
    with Global(process_name="caller", **where.kwargs) as g:
        call = in_thread(lambda: g.call.slow(30) & FG)
        callee.wait_line("BEGIN slow svc", timeout=15)
        ctl.kill()
        _, exc, took = outcome(call, 10)
        assert isinstance(exc, RemoteStoppedUnexpectedly), repr(exc)
        assert took < 5, f"took {took:.1f} s"


def test_bg_result_when_controller_dies(procs: Procs, where: Where) -> None:
    ctl = procs.controller(where)
    callee = procs.service(where, "svc", FAULTS)
    with Global(process_name="caller", **where.kwargs) as g:
        result = g.call.slow(30) & BG
        callee.wait_line("BEGIN slow svc", timeout=15)
        ctl.kill()
        _, exc, took = outcome(in_thread(lambda: result.get(timeout=20)), 25)
        assert isinstance(exc, RemoteStoppedUnexpectedly), repr(exc)
        assert took < 5, f"took {took:.1f} s"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_controller_stopped_with_call_in_flight(procs: Procs, where: Where, sig: signal.Signals) -> None:
    """A controller stopped by a signal exits 0 promptly even with nodes connected and a call open."""
    ctl = procs.controller(where)
    callee = procs.service(where, "svc", FAULTS)
    with Global(process_name="caller", **where.kwargs) as g:
        call = in_thread(lambda: g.call.slow(30) & FG)
        callee.wait_line("BEGIN slow svc", timeout=15)
        ctl.signal(sig)
        began = time.monotonic()
        assert exit_code(ctl, 10) == 0, ctl.output
        assert time.monotonic() - began < 5, f"the controller took {time.monotonic() - began:.1f} s to stop"
        _, exc, took = outcome(call, 10)
        assert isinstance(exc, RemoteStoppedUnexpectedly), repr(exc)
        assert took < 5, f"took {took:.1f} s"
    assert "Traceback" not in ctl.output, ctl.output
    if where.unix_sock_path is not None:
        assert not os.path.exists(where.unix_sock_path)


# ---------------------------------------------------------------- startup failures


def test_no_controller_connect_timeout(where: Where) -> None:
    began = time.monotonic()
    with pytest.raises(InitializationError) as info:
        Global(process_name="lonely", connect_timeout=1, **where.kwargs)
    took = time.monotonic() - began
    assert took < 3, f"took {took:.1f} s"
    assert "controller" in str(info.value)
    wait_until(lambda: not daffi_threads(), 5, f"daffi threads gone ({daffi_threads()})")
    # Nothing of the failed Global is left: another one can start (and fails the same way).
    with pytest.raises(InitializationError):
        Global(process_name="lonely", connect_timeout=0.5, **where.kwargs)


def test_init_controller_on_busy_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(InitializationError) as info:
            Global(process_name="ctl", init_controller=True, host="127.0.0.1", port=port, connect_timeout=5)
        assert time.monotonic() - began < 5
        assert str(port) in str(info.value)
    wait_until(lambda: not daffi_threads(), 5, f"daffi threads gone ({daffi_threads()})")


# ---------------------------------------------------------------- signals and stop


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("hosts_controller", [False, True], ids=["node", "node+controller"])
def test_service_stops_on_signal(procs: Procs, where: Where, sig: signal.Signals, hosts_controller: bool) -> None:
    if hosts_controller:
        svc = procs.service(where, "svc", "service.py", "--controller")
    else:
        procs.controller(where)
        svc = procs.service(where, "svc")
    with Global(process_name="caller", **where.kwargs) as g:
        assert g.call.whoami() & FG == "svc"
        if not hosts_controller:
            svc.signal(sig)
            began = time.monotonic()
            assert exit_code(svc, 10) == 0, svc.output
            assert time.monotonic() - began < 5
            wait_until(lambda: "svc" not in g.registered_callbacks, 10, "svc left")
    if hosts_controller:
        svc.signal(sig)
        began = time.monotonic()
        assert exit_code(svc, 10) == 0, svc.output
        assert time.monotonic() - began < 5
    svc.wait_line("STOPPED svc", timeout=5)
    assert "Traceback" not in svc.output, svc.output
    if hosts_controller and where.unix_sock_path is not None:
        assert not os.path.exists(where.unix_sock_path), "the controller's socket file was left behind"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_callback_hangs(procs: Procs, controller: Where, sig: signal.Signals) -> None:
    """A node stops on a signal even while one of its callbacks never returns; its caller is told."""
    svc = procs.service(controller, "svc", FAULTS)
    with Global(process_name="caller", **controller.kwargs) as g:
        call = in_thread(lambda: g.call.hang() & FG)
        svc.wait_line("BEGIN hang svc", timeout=15)
        svc.signal(sig)
        began = time.monotonic()
        assert exit_code(svc, 10) == 0, svc.output
        assert time.monotonic() - began < 5
        _, exc, took = outcome(call, 10)
        assert isinstance(exc, RemoteStoppedUnexpectedly), repr(exc)
        assert took < 5, f"took {took:.1f} s"
    svc.wait_line("STOPPED svc", timeout=5)


def test_signal_with_connected_peers(procs: Procs, where: Where) -> None:
    """A service hosting the controller stops promptly even while other nodes are connected to it."""
    host = procs.service(where, "host", "service.py", "--controller")
    procs.service(where, "other")
    host.signal(signal.SIGTERM)
    began = time.monotonic()
    assert exit_code(host, 10) == 0, host.output
    assert time.monotonic() - began < 5
    if where.unix_sock_path is not None:
        assert not os.path.exists(where.unix_sock_path)


def test_stop_with_bg_call_in_flight(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    wait_until(lambda: not daffi_threads(), 5, f"no daffi threads before the test ({daffi_threads()})")
    grace = 3.0
    g = Global(process_name="caller", **controller.kwargs)
    try:
        result = g.call.slow(1) & BG
        wait_until(lambda: bool(g._node and g._node.caller.open_calls), 5, "the call is open")
    finally:
        began = time.monotonic()
        g.stop(grace=grace)
        took = time.monotonic() - began
    assert took < grace + 1, f"stop() took {took:.1f} s with grace {grace}"
    # The call had time to finish within the grace period.
    assert result.get(timeout=1) == "svc"
    wait_until(lambda: not daffi_threads(), 5, f"daffi threads still alive: {daffi_threads()}")
    with pytest.raises(DaffiError):
        g.call.add(1, 2) & FG
