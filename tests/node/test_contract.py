"""The typed contract at run time: calls through generated stubs are checked by the callee, and
``Global(max_pending_calls=N)`` bounds a caller's open calls. Real controller and node processes.
"""

from __future__ import annotations

import gc
import importlib
import signal
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from daffi import BG, BROADCAST, FG, Global, GlobalContextError, PendingCallsLimitExceeded, SignatureMismatch, _node
from daffi_core.proto import daffi_pb2 as pb

from tests.codegen.conftest import codegen
from tests.support.nodes import caller, wait_until
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

SERVICE = "contract_service.py"


@pytest.fixture
def stubs(tmp_path: Path) -> Iterator[Callable[[Where], ModuleType]]:
    """Generate the stub package ``ctstubs`` from the running nodes and import its ``ct_svc`` module."""

    def generate(where: Where) -> ModuleType:
        result = codegen(where, "--wait-process", "ct-svc", "--out", str(tmp_path / "ctstubs"))
        assert result.returncode == 0, result.stderr
        return importlib.import_module("ctstubs.ct_svc")

    sys.path.insert(0, str(tmp_path))
    try:
        yield generate
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "ctstubs" or m.startswith("ctstubs.")]:
            del sys.modules[name]


def _seen(g: Global, callback: str, holds: Callable[[pb.CallbackSignature], bool]) -> None:
    """Wait until this node's view of the other nodes shows ``callback`` with a signature that ``holds``."""
    del g  # the running Global's node: the one the stub calls through
    future = _node.current().catalog.when(
        lambda nodes: any(callback in cbs and holds(cbs[callback]) for cbs in nodes.values())
    )
    future.result(10)


def _names(sig: pb.CallbackSignature) -> list[str]:
    return [p.name for p in sig.parameters]


def test_a_stub_is_refused_by_a_breaking_callee_and_served_by_a_compatible_one(
    procs: Procs, controller: Where, stubs: Callable[[Where], ModuleType]
) -> None:
    svc = procs.service(controller, "ct-svc", SERVICE, "--version", "v1")
    scale = stubs(controller).scale
    with caller(controller) as g:
        assert scale(5) == 10
        svc.stop()

        svc = procs.service(controller, "ct-svc", SERVICE, "--version", "breaking")
        _seen(g, "scale", lambda sig: sig.parameters[0].annotation.text == "str")
        with pytest.raises(SignatureMismatch) as refused:
            scale(5)
        assert isinstance(refused.value, GlobalContextError)
        text = str(refused.value)
        assert "refused by node 'ct-svc' before it ran" in text
        assert "  stub:   def scale(x: int, factor: int = 2) -> int" in text
        assert "  callee: def scale(x: str, factor: int = 2) -> int" in text
        assert "  parameter 'x' annotation int -> str" in text
        assert "regenerate the stubs from the running nodes: daffi-codegen --out ctstubs" in text
        with pytest.raises(SignatureMismatch):
            (scale.call(5) & BG).get(timeout=10)
        with pytest.raises(SignatureMismatch):
            scale.call(5) & BROADCAST
        assert svc.stop() == 0
        assert "RAN scale" not in svc.output  # refused before the callback ran
        svc = procs.service(controller, "ct-svc", SERVICE, "--version", "breaking")
        g.wait_function("scale", timeout=10)
        assert g.call.scale("abc") & FG == 6  # a fetcher that is not a stub is not checked
        svc.stop()

        svc = procs.service(controller, "ct-svc", SERVICE, "--version", "compatible")
        _seen(g, "scale", lambda sig: "offset" in _names(sig))
        assert scale(5) == 15
        assert scale(5, factor=2) == 10
        assert (scale.call(1) & BG).get(timeout=10) == 3
    svc.stop()
    assert svc.output.count("RAN scale") == 3
    assert svc.output.count("is called through a stub made from an older, compatible signature") == 1
    assert "(new optional parameter 'offset'; parameter 'factor' default 2 -> 3)" in svc.output


def test_max_pending_calls_refuses_the_call_over_the_limit_at_once(procs: Procs, controller: Where) -> None:
    svc = procs.service(controller, "ct-svc", SERVICE)
    with caller(controller, max_pending_calls=1000) as g:
        g.wait_function("gate", timeout=10)
        accepted, refused = [], []
        for i in range(10_000):  # the gate holds every call open until SIGUSR1
            try:
                accepted.append(g.call.gate(i) & BG)
            except PendingCallsLimitExceeded as exc:
                refused.append(exc)
        assert (len(accepted), len(refused)) == (1000, 9000)
        assert "1000 calls are open, the limit of Global(max_pending_calls=1000)" in str(refused[0])
        svc.signal(signal.SIGUSR1)
        assert [r.get(timeout=30) for r in accepted] == list(range(1000))
        assert g.call.gate(-1) & FG == -1  # room again


def test_results_of_dropped_async_results_are_not_kept(procs: Procs, controller: Where) -> None:
    procs.service(controller, "ct-svc", SERVICE)
    with caller(controller) as g:
        g.wait_function("big", timeout=10)
        futures = []
        for _ in range(20):
            result = g.call.big(1_000_000) & BG
            futures.append(weakref.ref(result._outcome.future))
            del result
        node = _node.current()
        wait_until(lambda: node.caller.open_calls == 0, what="every reply arrived")
        gc.collect()
        assert [ref() for ref in futures] == [None] * 20


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
def test_max_pending_calls_must_be_a_positive_whole_number(bad: object) -> None:
    with pytest.raises(Exception, match="max_pending_calls must be a whole number of at least 1"):
        Global(process_name="bad", max_pending_calls=bad)  # type: ignore[arg-type]
