"""Operations on named nodes, class callbacks, pipelines, waits and lifecycle hooks (real processes)."""

from __future__ import annotations

import threading
import time

import daffi
import pytest
from daffi import FG, Global, GlobalContextError, RemoteCallError

from tests.support.nodes import caller
from tests.support.procs import SERVICES, Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats


def test_transfer_and_call_runs_on_the_named_node(procs: Procs, controller: Where) -> None:
    svc = procs.service(controller, "svc")
    other = procs.service(controller, "other")
    factor = 3  # captured: dill sends the closure by value

    def where_am_i(x: int, *, plus: int = 0) -> tuple[int, int]:
        import os

        return os.getpid(), x * factor + plus

    async def async_where_am_i() -> int:
        import os

        return os.getpid()

    with caller(controller) as g:
        assert g.transfer_and_call("svc", where_am_i, 14, plus=1) == (svc.popen.pid, 43)
        assert g.transfer_and_call("other", where_am_i, 1) == (other.popen.pid, 3)
        assert g.transfer_and_call("svc", async_where_am_i) == svc.popen.pid
        with pytest.raises(GlobalContextError):
            g.transfer_and_call("nope", where_am_i, 1)


def test_class_callback_without_instance(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert g.call.version() & FG == "1.0"
        assert g.call.kind() & FG == "Counter"
        with pytest.raises(RemoteCallError) as info:
            g.call.incr(1) & FG
        assert "not initialized" in str(info.value)


def test_class_callback_with_instance(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc", "service.py", "--with-instance")
    with caller(controller) as g:
        assert g.call.incr(5) & FG == 15  # Counter(10)
        assert g.call.incr(n=1) & FG == 16  # the same instance
        assert g.call.version() & FG == "1.0"


def test_pipeline_through_injected_g(procs: Procs, controller: Where) -> None:
    for stage in (1, 2, 3):
        procs.service(controller, f"stage-node-{stage}", "service.py", "--stage", str(stage))
    with caller(controller) as g:
        assert g.call.stage1(1) & FG == ["stage-node-1", "stage-node-2", "stage-node-3"]
        # ``g`` is injected by the callee, not sent by the caller
        assert g.call.call_onward("version") & FG == "1.0"


def test_waits_and_registered_callbacks(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        g.wait_process("svc", timeout=5)
        g.wait_function("count_up", timeout=5)

        start = time.monotonic()
        with pytest.raises(daffi.TimeoutError) as info:
            g.wait_process("nope", timeout=0.5)
        assert 0.4 <= time.monotonic() - start < 2
        assert "nope" in str(info.value)
        with pytest.raises(TimeoutError):  # the built-in
            g.wait_function("no_such_callback", timeout=0.3)

        offered = g.registered_callbacks
        assert "caller" not in offered
        assert set(offered) == {"svc"}
        assert {"add", "whoami", "echo", "count_up", "incr", "version", "kind", "async_add"} <= set(offered["svc"])


def test_wait_for_a_late_node(procs: Procs, controller: Where) -> None:
    with caller(controller) as g:
        late = procs.python(str(SERVICES / "service.py"), "--name", "late", *controller.argv)
        g.wait_process("late", timeout=30)
        g.wait_function("whoami", timeout=10)
        assert g.call.whoami() & FG == "late"
        late.wait_line("READY late")


def test_lifecycle_hooks(procs: Procs, controller: Where) -> None:
    initialized = threading.Event()
    connected = threading.Event()
    disconnected = threading.Event()
    seen: dict[str, list[str]] = {"init": [], "connect": [], "disconnect": []}

    def on_init(g: Global, name: str) -> None:
        seen["init"].append(name)
        initialized.set()

    def on_node_connect(g: Global, name: str) -> None:
        seen["connect"].append(name)
        if name == "svc":
            connected.set()

    def on_node_disconnect(g: Global, name: str) -> None:
        seen["disconnect"].append(name)
        if name == "svc":
            disconnected.set()

    with caller(
        controller, on_init=on_init, on_node_connect=on_node_connect, on_node_disconnect=on_node_disconnect
    ) as g:
        assert initialized.wait(10), seen
        assert seen["init"] == ["caller"]
        svc = procs.service(controller, "svc")
        assert connected.wait(10), seen
        assert g.call.whoami() & FG == "svc"
        assert not disconnected.is_set()
        assert svc.stop() == 0
        assert disconnected.wait(10), seen
        assert "caller" not in seen["connect"]
