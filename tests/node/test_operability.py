"""What a new user meets: no silent waits, errors that point at the fix, clean Ctrl-C, quiet exits.

Real processes: a controller and tests/services/operability_service.py per transport (shared by
the module), callers started as scripts that the tests interrupt or let exit on their own.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import daffi._execute
import pytest
from daffi import BG, FG, RemoteStoppedUnexpectedly, UnableToFindCandidate
from daffi._link import BACKOFF_JITTER, BACKOFF_MAX, BACKOFF_MIN, Backoff
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.suggest import callback_hint

from tests.support import raw
from tests.support.nodes import caller, wait_until
from tests.support.procs import SERVICES, Proc, Procs, Where, free_port

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

SERVICE = "opsvc"


@pytest.fixture(scope="module", params=["grpc-tcp", "socket-tcp", "socket-unix"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Where, Proc]]:
    """A controller and the operability service, on each transport, for the whole module."""
    transport, family = request.param.split("-")
    with tempfile.TemporaryDirectory(prefix="daffi-") as short:  # AF_UNIX paths are limited to ~107 bytes
        if family == "tcp":
            where = Where(host="127.0.0.1", port=free_port(), transport=transport)
        else:
            where = Where(unix_sock_path=str(Path(short) / "ctl.sock"), transport=transport)
        manager = Procs(tmp_path_factory.mktemp("operability"))
        try:
            manager.controller(where)
            yield where, manager.service(where, SERVICE, "operability_service.py")
        finally:
            manager.close()


# ---------------------------------------------------------------- unknown callbacks


def test_callback_hint_suggests_close_names_and_the_wait() -> None:
    hint = callback_hint("add_numbrs", ["add_numbers", "echo", "add_numbers"])
    assert hint.startswith("did you mean 'add_numbers'?")
    assert "g.wait_function('add_numbrs')" in hint
    assert "did you mean" not in callback_hint("zzz", ["add_numbers"])
    assert callback_hint("zzz", ["add_numbers"], wait=False) == ""


def test_unknown_callback_on_the_node(site: tuple[Where, Proc], monkeypatch: pytest.MonkeyPatch) -> None:
    where, _ = site
    monkeypatch.setattr(daffi._execute, "UNKNOWN_CALLBACK_GRACE", 0.2)
    with caller(where) as g:
        g.wait_function("add_numbers", timeout=10)
        with pytest.raises(UnableToFindCandidate) as info:
            g.call.add_numbrs(1, 2) & FG
    message = str(info.value)
    assert message.startswith("no node offers callback 'add_numbrs'; did you mean 'add_numbers'?")
    assert "g.wait_function('add_numbrs')" in message
    assert "callbacks of other nodes:\nprocess: opsvc" in message


def test_unknown_callback_at_the_controller(site: tuple[Where, Proc]) -> None:
    where, _ = site
    calls = [
        pb.Message(kind=pb.Message.CALL, call_id=1, head=pb.CallHead(name="add_numbrs")),
        pb.Message(kind=pb.Message.CALL, call_id=2, head=pb.CallHead(name="add_numbrs", target=SERVICE)),
    ]
    with raw.joined(where, "raw-caller") as stream:
        stream.send(pb.Batch(frames=[pb.Frame(message=m) for m in calls]))
        replies = {m.call_id: m.error.message for m in stream.messages(2)}
    assert replies[1].startswith("no node offers callback 'add_numbrs'; did you mean 'add_numbers'?")
    assert "g.wait_function('add_numbrs')" in replies[1]
    assert replies[2].startswith("node 'opsvc' has no callback 'add_numbrs'; did you mean 'add_numbers'?")
    assert "callbacks of other nodes:" in replies[2]


# ---------------------------------------------------------------- Ctrl-C


def _begun(service: Proc, what: str = "BEGIN stuck") -> int:
    return sum(1 for line in service.lines if line.startswith(what))


@pytest.mark.parametrize("mode", ["fg", "bg", "bg-start", "fetcher", "iterate", "wait_function", "stream"])
def test_ctrl_c_interrupts_a_blocked_caller_cleanly(site: tuple[Where, Proc], procs: Procs, mode: str) -> None:
    where, service = site
    begun, streams = _begun(service), _begun(service, "BEGIN slow_item")
    proc = procs.python(str(SERVICES / "interrupt_caller.py"), *where.argv, "--mode", mode)
    proc.wait_line(f"BLOCKING {mode}")
    if mode in ("fg", "bg", "fetcher"):  # the callee runs the call: interrupting now must cancel it there
        wait_until(lambda: _begun(service) > begun, what="the call reached the callee")
    if mode == "stream":  # items flow (a Ctrl-C while the call is being set up is not what this tests)
        wait_until(lambda: _begun(service, "BEGIN slow_item") > streams, what="the stream reached the callee")
    start = time.monotonic()
    if mode != "bg-start":  # that caller interrupts itself at the moment the test is about
        proc.signal(signal.SIGINT)
    proc.wait(10)
    elapsed = time.monotonic() - start
    proc.stop()  # the reader thread has all the output
    output = proc.output
    assert output.count("KeyboardInterrupt") == 1, output
    assert output.count("Traceback") == 1, output
    assert "daffi/_" not in output, output
    # Not the 2 s that Global's exit gives calls left open: an interrupted call is not one of them.
    assert elapsed < 1.5, output
    if mode in ("fg", "bg", "fetcher"):
        service.wait_line(f"CANCELLED stuck {begun + 1}", timeout=10)
    if mode == "iterate":
        service.wait_line("STOPPED drip", timeout=10)


@pytest.mark.parametrize("transport", ["grpc", "socket"])
def test_a_stopping_controller_is_named_not_the_live_callee(procs: Procs, transport: str) -> None:
    where = Where(host="127.0.0.1", port=free_port(), transport=transport)
    controller = procs.controller(where)
    service = procs.service(where, "opsvc-stays", "operability_service.py")
    with caller(where) as g:
        g.wait_function("stuck", timeout=10)
        result = g.call.stuck() & BG
        service.wait_line("BEGIN stuck")
        controller.stop()
        with pytest.raises(RemoteStoppedUnexpectedly) as info:
            result.get(timeout=10)
    assert str(info.value).startswith(f"the controller at 127.0.0.1:{where.port} went away"), info.value
    assert "opsvc-stays" not in str(info.value)


# ---------------------------------------------------------------- exits


def test_short_lived_nodes_exit_quietly(site: tuple[Where, Proc], procs: Procs) -> None:
    where, _ = site
    runs = [
        procs.python(str(SERVICES / "short_lived.py"), "--name", f"short-{mode}-{n}", *where.argv, "--mode", mode)
        for mode in ("no-stop", "stop", "asyncio", "asyncio-stop")
        for n in range(2)
    ]
    for run in runs:
        assert run.wait(30) == 0, run.output
        run.stop()
        assert "DONE" in run.output, run.output
        assert "Task was destroyed" not in run.output, run.output
        assert "Exception ignored" not in run.output, run.output
        assert "Traceback" not in run.output, run.output


# ---------------------------------------------------------------- waiting for a controller

WAITER = """
import json, logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(created).3f %(name)s %(levelname)s %(message)s")
from daffi import Global, InitializationError
print(f"START {time.time():.3f}", flush=True)
try:
    Global(process_name="waiter", connect_timeout=2.5, **json.loads(sys.argv[1]))
except InitializationError as exc:
    print(f"FAILED {time.time():.3f} {exc}", flush=True)
"""


def test_a_node_waiting_for_a_controller_says_so_once(where: Where, procs: Procs) -> None:
    """Nothing listens at ``where`` (a free port, a socket path that does not exist)."""
    proc = procs.spawn(sys.executable, "-c", WAITER, json.dumps(where.kwargs))
    failed = proc.wait_line("FAILED", timeout=20)
    proc.stop()
    start = float(proc.wait_line("START").split()[1])
    server = "NATS server" if where.transport == "nats" else "daffi controller"
    waiting = [line for line in proc.lines if f"is waiting for a {server}" in line]
    assert len(waiting) == 1, proc.output
    stamp, logger, level, *_ = waiting[0].split()
    assert (logger, level) == ("daffi.node", "WARNING")
    assert 0.9 <= float(stamp) - start < 2.0, proc.output
    place = where.unix_sock_path or f"127.0.0.1:{where.port}"
    assert place in waiting[0] and "giving up after 2.5 s" in waiting[0], waiting[0]
    assert re.search(rf"no {server} answered at .* within 2.5 s", failed), failed


# ---------------------------------------------------------------- reconnect backoff


def test_reconnect_backoff_has_bounded_jitter() -> None:
    first, second = Backoff(), Backoff()
    a = [first.next() for _ in range(12)]
    b = [second.next() for _ in range(12)]
    assert a != b  # two nodes that lost the same controller do not retry at the same instants
    base = BACKOFF_MIN
    for x, y in zip(a, b, strict=True):
        for delay in (x, y):
            assert base * (1 - BACKOFF_JITTER) <= delay <= base * (1 + BACKOFF_JITTER)
        base = min(base * 2, BACKOFF_MAX)
    assert base == BACKOFF_MAX  # the sequence reached its ceiling and stayed there
    first.reset()
    assert first.next() <= BACKOFF_MIN * (1 + BACKOFF_JITTER)
