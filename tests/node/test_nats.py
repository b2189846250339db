"""``transport="nats"``: nodes on a NATS server (or a cluster of three), no daffi controller.

Real processes as in test_calls.py: the test process is the caller, tests/services/*.py are the
callees, and a nats-server (tests/support/nats.py) on a loopback port routes between them. The
public API and the modifiers behave as on the controller transports.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import daffi
import pytest
from daffi import (
    BG,
    BROADCAST,
    FG,
    PERIOD,
    STREAM,
    Global,
    GlobalContextError,
    RemoteCallError,
    ScheduledTask,
    callback,
)
from daffi._registry import REGISTRY
from daffi_core.errors import InitializationError

from tests.support.certs import Authority
from tests.support.nats import NatsServer, start_cluster, start_server
from tests.support.nodes import caller, wait_until
from tests.support.procs import SERVICES, Procs, Where


@pytest.fixture
def nats(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> Iterator[Where]:
    """One nats-server; every process the test starts speaks ``transport="nats"`` to it."""
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    yield start_server(procs).where


@pytest.fixture
def cluster(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> list[NatsServer]:
    """Three routed nats-servers."""
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    return start_cluster(procs, 3)


def _kwargs(where: Where) -> dict[str, Any]:
    """``where`` as Global's keyword arguments (typed for Global's parameters)."""
    return dict(where.kwargs)


# -- FG, BG, BROADCAST


def test_fg_and_bg(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        assert g.call.add(2, 3) & FG == 5
        assert g.call.add(a=4, b=5) & FG(timeout=5) == 9
        assert g.call.async_add(1, 2) & FG == 3
        result = g.call.add(1, 2) & BG
        assert result.get(timeout=10) == 3
        assert (g.call.whoami() & BG(timeout=5)).get(timeout=5) == "svc"


def test_bg_without_result_and_eta(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        g.call.collect("fire", "forget") & BG(return_result=False)
        wait_until(lambda: g.call.received() & FG == [("fire", "forget")], what="the callback ran")
        start = time.monotonic()
        assert (g.call.add(1, 1) & BG(eta=0.5)).get(timeout=10) == 2
        assert time.monotonic() - start >= 0.48


def test_broadcast_gathers_every_other_node(procs: Procs, nats: Where) -> None:
    for name in ("n1", "n2", "n3"):
        procs.service(nats, name)
    with caller(nats) as g:
        assert g.call.whoami() & BROADCAST == {"n1": "n1", "n2": "n2", "n3": "n3"}
        assert g.call.add(1, 1) & BROADCAST(timeout=5) == {"n1": 2, "n2": 2, "n3": 2}


def test_broadcast_failure_is_raised_with_results(procs: Procs, nats: Where) -> None:
    procs.service(nats, "n1", "service.py", "--with-instance")
    procs.service(nats, "n2")  # no Counter instance: incr fails there
    with caller(nats) as g:
        with pytest.raises(RemoteCallError) as info:
            g.call.incr(1) & BROADCAST
        results = info.value.results  # type: ignore[attr-defined]
        assert results["n1"] == 11
        assert isinstance(results["n2"], RemoteCallError)


# -- routing and errors


@pytest.fixture
def local_whoami() -> Iterator[None]:
    """Registers ``whoami`` in the test process for one test, then removes it."""

    @callback
    def whoami() -> str:
        return "caller"  # never reached by the caller's own calls

    try:
        yield
    finally:
        REGISTRY._callbacks.pop("whoami", None)


def test_round_robin_never_back_to_the_caller(procs: Procs, nats: Where, local_whoami: None) -> None:
    procs.service(nats, "svc1")
    procs.service(nats, "svc2")
    with caller(nats) as g:
        names = [g.call.whoami() & FG for _ in range(10)]
        assert Counter(names) == {"svc1": 5, "svc2": 5}
        assert g.call.whoami() & BROADCAST == {"svc1": "svc1", "svc2": "svc2"}


def test_callback_and_fetcher_reaches_the_other_node(procs: Procs, nats: Where) -> None:
    procs.service(nats, "p1", "calls_peer.py")
    procs.service(nats, "p2", "calls_peer.py")
    with caller(nats) as g:
        assert g.call.ask_peer() & BROADCAST == {"p1": "p2", "p2": "p1"}


def test_remote_errors_unknown_callback_and_bad_arguments(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        with pytest.raises(RemoteCallError, match="kaboom") as info:
            g.call.boom("kaboom") & FG
        assert "ValueError" in str(info.value)
        with pytest.raises(GlobalContextError, match="no_such_callback"):
            g.call.no_such_callback() & FG
        with pytest.raises(GlobalContextError):
            g.call.add(1, 2, 3) & FG


def test_fg_timeout(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        start = time.monotonic()
        with pytest.raises(daffi.TimeoutError):
            g.call.slow(3) & FG(timeout=0.5)
        assert time.monotonic() - start < 2.5


def test_pipeline_through_injected_g(procs: Procs, nats: Where) -> None:
    for stage in (1, 2, 3):
        procs.service(nats, f"stage-node-{stage}", "service.py", "--stage", str(stage))
    with caller(nats) as g:
        assert g.call.stage1(1) & FG == ["stage-node-1", "stage-node-2", "stage-node-3"]


def test_transfer_and_call_runs_on_the_named_node(procs: Procs, nats: Where) -> None:
    svc = procs.service(nats, "svc")
    factor = 3  # captured: dill sends the closure by value

    def where_am_i(x: int) -> tuple[int, int]:
        import os

        return os.getpid(), x * factor

    with caller(nats) as g:
        assert g.transfer_and_call("svc", where_am_i, 14) == (svc.popen.pid, 42)
        with pytest.raises(GlobalContextError):
            g.transfer_and_call("nope", where_am_i, 1)


def test_big_payload_is_chunked(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        data = bytes(range(256)) * (5 * 1024 * 1024 // 256)  # 5 MiB: five times the server's max_payload
        assert g.call.echo(data) & FG(timeout=30) == data


# -- the catalogue: waits and hooks


def test_nodes_joining_at_once_all_find_each_other(procs: Procs, nats: Where) -> None:
    def _known_nodes() -> list[str]:  # local: dill sends it by value to the node that runs it
        from daffi import get_g

        return sorted(get_g().registered_callbacks)

    names = [f"s{i}" for i in range(5)]
    started = [procs.python(str(SERVICES / "service.py"), "--name", name, *nats.argv) for name in names]
    for proc, name in zip(started, names, strict=True):
        proc.wait_line(f"READY {name}")
    with caller(nats) as g:
        assert sorted(g.registered_callbacks) == names  # the Welcome had every one of them
        for name in names:
            expected = sorted({*names, "caller"} - {name})

            def knows_all(node: str = name, others: list[str] = expected) -> bool:
                return bool(g.transfer_and_call(node, _known_nodes) == others)

            wait_until(knows_all, what=f"{name} knows all")


def test_waits_and_registered_callbacks(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        g.wait_process("svc", timeout=5)
        g.wait_function("count_up", timeout=5)
        with pytest.raises(daffi.TimeoutError):
            g.wait_process("nope", timeout=0.5)
        assert set(g.registered_callbacks) == {"svc"}
        assert {"add", "whoami", "echo", "count_up"} <= set(g.registered_callbacks["svc"])


def test_wait_for_a_late_node(procs: Procs, nats: Where) -> None:
    with caller(nats) as g:
        late = procs.python(str(SERVICES / "service.py"), "--name", "late", *nats.argv)
        g.wait_process("late", timeout=30)
        g.wait_function("whoami", timeout=10)
        assert g.call.whoami() & FG == "late"
        late.wait_line("READY late")


def test_lifecycle_hooks(procs: Procs, nats: Where) -> None:
    seen: dict[str, list[str]] = {"init": [], "connect": [], "disconnect": []}
    connected, disconnected = threading.Event(), threading.Event()

    def on_init(g: Global, name: str) -> None:
        seen["init"].append(name)

    def on_node_connect(g: Global, name: str) -> None:
        seen["connect"].append(name)
        connected.set()

    def on_node_disconnect(g: Global, name: str) -> None:
        seen["disconnect"].append(name)
        disconnected.set()

    hooks: dict[str, Any] = {
        "on_init": on_init,
        "on_node_connect": on_node_connect,
        "on_node_disconnect": on_node_disconnect,
    }
    with caller(nats, **hooks) as g:
        wait_until(lambda: seen["init"] == ["caller"], what="on_init")
        svc = procs.service(nats, "svc")
        assert connected.wait(10), seen
        assert g.call.whoami() & FG == "svc"
        assert svc.stop() == 0  # a clean stop says goodbye: no heartbeat timeout to wait for
        assert disconnected.wait(3), seen
        assert seen["connect"] == ["svc"] and seen["disconnect"] == ["svc"]


def test_duplicate_name_is_refused(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with pytest.raises(InitializationError, match="already on the NATS server"):
        Global(process_name="svc", **_kwargs(nats), connect_timeout=5)


def test_no_server_fails_within_connect_timeout(nats: Where) -> None:
    where = Where(host="127.0.0.1", port=1, transport="nats")
    start = time.monotonic()
    with pytest.raises(InitializationError, match="no NATS server answered"):
        Global(process_name="lonely", **_kwargs(where), connect_timeout=1)
    assert time.monotonic() - start < 5


def test_nats_runs_no_controller() -> None:
    with pytest.raises(InitializationError, match="no daffi controller"):
        Global(init_controller=True, host="127.0.0.1", port=4222, transport="nats")
    with pytest.raises(InitializationError, match="UNIX socket"):
        Global(process_name="x", transport="nats")


def test_token_and_tls(procs: Procs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    authority = Authority(tmp_path)
    cert = authority.issue("nats", server=True)
    tls = ["--tls", "--tlscert", cert.certificate, "--tlskey", cert.key]
    server = start_server(procs, extra=["--auth", "s3cret", *tls])
    where = server.where
    env = {"DAFFI_TOKEN": "s3cret"}
    procs.service(where, "svc", "service.py", "--ssl-ca", authority.ca, env=env)
    with caller(where, token="s3cret", ssl_ca=authority.ca) as g:
        assert g.call.add(2, 3) & FG == 5
    start = time.monotonic()
    with pytest.raises(InitializationError, match="refused this node"):
        Global(process_name="intruder", **_kwargs(where), token="wrong", ssl_ca=authority.ca, connect_timeout=10)
    assert time.monotonic() - start < 5  # refused at once, not after connect_timeout


# -- failures


def test_node_killed_during_call_fails_it(procs: Procs, nats: Where) -> None:
    svc = procs.service(nats, "x", "calls_extra.py")
    with caller(nats) as g:
        pending = g.call.hang_noisy() & BG
        svc.wait_line("HANGING", timeout=10)
        svc.kill()  # no goodbye: the heartbeats stop
        start = time.monotonic()
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=15)
        assert time.monotonic() - start < 8


def test_the_server_restarts(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    server = start_server(procs)
    where = server.where
    svc = procs.service(where, "svc")
    with caller(where) as g:
        pending = g.call.slow(30) & BG
        svc.wait_line("BEGIN slow", timeout=10)
        server.stop()  # like a controller that goes away: open calls fail, the nodes reconnect
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=10)
        start_server(procs, port=server.port)
        g.wait_process("svc", timeout=20)
        assert g.call.whoami() & FG(timeout=10) == "svc"


# -- a cluster of three servers


def test_calls_across_a_cluster(procs: Procs, cluster: list[NatsServer]) -> None:
    one, two, three = cluster
    procs.service(two.where, "svc2")
    procs.service(three.where, "svc3")
    with caller(one.where) as g:
        g.wait_process("svc2", timeout=10)
        g.wait_process("svc3", timeout=10)
        assert g.call.whoami() & BROADCAST == {"svc2": "svc2", "svc3": "svc3"}
        assert {g.call.whoami() & FG for _ in range(4)} == {"svc2", "svc3"}
        data = b"x" * (3 * 1024 * 1024)
        assert g.call.echo(data) & FG(timeout=30) == data


def test_callee_fails_over_to_another_server_of_the_cluster(procs: Procs, cluster: list[NatsServer]) -> None:
    one, two, _ = cluster
    svc = procs.service(two.where, "svc2")
    with caller(one.where) as g:
        g.wait_process("svc2", timeout=10)
        pending = g.call.slow(30) & BG
        svc.wait_line("BEGIN slow", timeout=10)
        start = time.monotonic()
        two.stop()  # svc2 reconnects to a server it learnt from the cluster; its old session's call is lost
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=15)
        assert time.monotonic() - start < 8
        wait_until(lambda: "svc2" in g.registered_callbacks, timeout=15, what="svc2 is back")
        assert g.call.whoami() & FG(timeout=10) == "svc2"


# -- STREAM


def test_stream_reaches_every_receiver(procs: Procs, nats: Where) -> None:
    procs.service(nats, "r1")
    procs.service(nats, "r2")
    with caller(nats) as g:
        g.call.collect_one(iter(range(2000))) & STREAM  # returns once every receiver processed every item
        assert g.call.received() & BROADCAST == {"r1": list(range(2000)), "r2": list(range(2000))}


def test_generator_callback_streams_back(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        assert list(g.call.count_up(1000) & FG) == list(range(1000))
        items = g.call.count_up(1_000_000) & FG
        for item in items:
            if item == 5:
                break
        wait_until(lambda: (g.call.generator_state() & FG)["generator_closed"], what="the generator closed")


def test_period_schedules_on_the_callee(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with caller(nats) as g:
        task = g.call.tick() & PERIOD(interval=0.2)
        assert isinstance(task, ScheduledTask)
        wait_until(lambda: g.call.ticks() & FG >= 3, what="3 ticks")
        assert [t["uuid"] for t in g.get_scheduled_tasks("svc")] == [task.uuid]
        assert task.cancel() is True
        wait_until(lambda: g.get_scheduled_tasks("svc") == [], what="the task was cancelled")


# -- tools


def test_codegen_lists_writes_and_checks_stubs_from_the_server(procs: Procs, nats: Where, tmp_path: Path) -> None:
    procs.service(nats, "svc")
    codegen = ["-m", "daffi_codegen", *nats.argv, "--wait-process", "svc"]
    listing = procs.python(*codegen, "--list")
    assert listing.wait(30) == 0, listing.output
    assert "def add(a: int, b: int) -> int" in listing.output
    assert "svc" in listing.output
    out = tmp_path / "svc_stubs"
    written = procs.python(*codegen, "--out", str(out))
    assert written.wait(30) == 0, written.output
    assert any("def add(" in f.read_text(encoding="utf-8") for f in out.rglob("*.py")), sorted(out.rglob("*"))
    check = procs.python(*codegen, "--out", str(out), "--check")
    assert check.wait(30) == 0, check.output
    stub = next(f for f in out.rglob("*.py") if "def add(" in f.read_text(encoding="utf-8"))
    stub.write_text(stub.read_text(encoding="utf-8").replace("def add(", "def add_old("), encoding="utf-8")
    stale = procs.python(*codegen, "--out", str(out), "--check")
    assert stale.wait(30) != 0, stale.output


def test_controller_refuses_the_nats_transport(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = procs.python("-m", "daffi_controller", "--port", "0", "--transport", "nats")
    assert refused.wait(30) == 2  # not among its choices
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    refused = procs.python("-m", "daffi_controller", "--port", "0")
    assert refused.wait(30) == 2  # $DAFFI_TRANSPORT is checked against the same choices
    assert "'nats'" in refused.output, refused.output


def test_without_nats_py_the_error_names_the_extra(procs: Procs, nats: Where) -> None:
    script = (
        "import sys\n"
        "sys.modules['nats'] = None  # as if the extra were not installed\n"
        "from daffi import Global\n"
        f"Global(process_name='x', host={nats.host!r}, port={nats.port}, transport='nats')\n"
    )
    proc = procs.python("-c", script)
    assert proc.wait(30) != 0
    assert "InitializationError" in proc.output and "pip install daffi-node[nats]" in proc.output, proc.output
