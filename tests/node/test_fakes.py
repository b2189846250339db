"""``daffi.testing.fake_nodes()``: typed in-process fakes of remote nodes, no controller, no sockets.

Each test calls generated stubs (``stubs/``) through the real caller machinery; the fake nodes
answer in the calling thread, so nothing here waits for time to pass.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import daffi
import mypy.api
import pytest
import trio
from daffi import BG, BROADCAST, FG, PERIOD, GlobalContextError, RemoteCallError, RemoteStoppedUnexpectedly
from daffi._node import running
from daffi.testing import YIELD_WINDOW, FakeNodes, fake_nodes

from stubs.producer import countdown, naturals
from stubs.receiver import collect
from stubs.ticker import tick
from stubs.trio_callee import slow_square, squares_in_parallel
from stubs.worker import process_item
from tests.support.procs import ROOT

TYPING = Path(__file__).parent / "fakes_typing"


@pytest.fixture
def nodes() -> Iterator[FakeNodes]:
    with fake_nodes() as fakes:
        yield fakes


def code_under_test() -> str:
    """What a caller's own code looks like: it calls the worker through its stub."""
    return process_item(5)


def test_the_example() -> None:
    with fake_nodes() as nodes:
        nodes.add("worker").serve(process_item, lambda x: str(x * 2))
        assert code_under_test() == "10"
        assert nodes["worker"].calls(process_item) == [((5,), {})]


def test_fg_round_robin_and_calls(nodes: FakeNodes) -> None:
    nodes.add("w1").serve(process_item, lambda x: f"w1:{x}")
    nodes.add("w2").serve(process_item, lambda x: f"w2:{x}")
    assert [process_item(i) for i in range(4)] == ["w1:0", "w2:1", "w1:2", "w2:3"]
    assert process_item.call(x=7) & FG(timeout=5) == "w1:7"
    assert nodes["w1"].calls(process_item) == [((0,), {}), ((2,), {}), ((), {"x": 7})]
    assert nodes["w2"].calls(process_item) == [((1,), {}), ((3,), {})]
    assert "w1" in nodes and len(nodes) == 2 and [n.name for n in nodes] == ["w1", "w2"]


def test_bg_async_result_and_eta_on_the_fake_clock(nodes: FakeNodes) -> None:
    nodes.add("worker").serve(process_item, lambda x: str(x + 1))
    result = process_item.call(1) & BG
    assert result.get() == "2"
    later = process_item.call(2) & BG(eta=10)
    nodes.clock.advance(9)
    assert not later.ready and nodes["worker"].calls(process_item) == [((1,), {})]
    nodes.clock.advance(1)
    assert later.ready and later.get() == "3"
    fire_and_forget = process_item.call(3) & BG(return_result=False)
    assert fire_and_forget.get() is None
    assert len(nodes["worker"].calls(process_item)) == 3


def test_broadcast_with_one_node_down(nodes: FakeNodes) -> None:
    for name in ("a", "b", "c"):

        def answer(x: int, name: str = name) -> str:
            return f"{name}{x}"

        nodes.add(name).serve(process_item, answer)
    assert process_item.call(1) & BROADCAST == {"a": "a1", "b": "b1", "c": "c1"}
    nodes["b"].down()
    with pytest.raises(RemoteStoppedUnexpectedly, match="'b' stopped unexpectedly") as caught:
        process_item.call(2) & BROADCAST
    results = caught.value.results  # type: ignore[attr-defined]  # set on the error by daffi._execute._gather
    assert results["a"] == "a2" and results["c"] == "c2" and results["b"] is caught.value
    assert nodes["b"].calls(process_item) == [((1,), {})]  # a dead node runs nothing


def test_stream_reaches_every_receiver_in_order(nodes: FakeNodes) -> None:
    received: dict[str, list[tuple[str, int]]] = {"r1": [], "r2": []}
    for name, words in received.items():

        def receive(word: str, position: int, words: list[tuple[str, int]] = words) -> None:
            words.append((word, position))

        nodes.add(name).serve(collect, receive)
    items = [(f"w{i}", i) for i in range(300)]  # several ITEM frames, acknowledged as they go
    collect.stream(iter(items))
    assert received == {"r1": items, "r2": items}
    assert nodes["r2"].calls(collect)[:2] == [(("w0", 0), {}), (("w1", 1), {})]


def test_stream_receiver_that_raises_ends_with_its_error(nodes: FakeNodes) -> None:
    seen: list[int] = []

    def picky(word: str, position: int) -> None:
        if position == 3:
            raise ValueError(f"no {word}")
        seen.append(position)

    nodes.add("ok").serve(collect, lambda word, position: None)
    nodes.add("picky").serve(collect, picky)
    with pytest.raises(RemoteCallError, match="ValueError: no w3") as caught:
        collect.stream([(f"w{i}", i) for i in range(10)])
    # .results: set on the error by daffi._execute._gather
    assert caught.value.results["ok"] is None  # type: ignore[attr-defined]
    assert seen == [0, 1, 2]


def test_generator_with_break_closes_it(nodes: FakeNodes) -> None:
    produced = itertools.count()
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            for n in itertools.count():
                next(produced)
                yield n
        finally:
            closed.set()

    nodes.add("producer").serve(naturals, endless).serve(countdown, lambda start: range(start, 0, -1))
    assert list(countdown(3)) == [3, 2, 1]
    for n in naturals():
        if n == 100:
            break
    assert closed.is_set()  # the CANCEL sent on leaving the loop closed the generator
    assert next(produced) <= 101 + YIELD_WINDOW  # produced lazily, within the credit window
    assert nodes["producer"].calls(naturals) == [((), {})]


def test_period_on_the_fake_clock_and_cancel(nodes: FakeNodes) -> None:
    nodes.add("ticker").serve(tick, lambda label: None)
    began = nodes.clock.now()
    task = tick.call("every") & PERIOD(interval=2)
    assert task.process_name == "ticker"
    nodes.clock.advance(1)
    assert nodes["ticker"].calls(tick) == []
    nodes.clock.advance(6.5)  # due at +2, +4, +6
    assert nodes["ticker"].calls(tick) == [(("every",), {})] * 3
    assert nodes.clock.now() == pytest.approx(began + 7.5)
    assert task.cancel() is True
    nodes.clock.advance(10)
    assert len(nodes["ticker"].calls(tick)) == 3
    assert task.cancel() is False  # ended already

    start = time.time()  # at_time takes real timestamps; the fake clock started at time.time()
    once = tick.call("at") & PERIOD(at_time=[start + 30, start + 60])
    nodes.clock.advance(40)
    assert nodes["ticker"].calls(tick)[3:] == [(("at",), {})]
    nodes.clock.advance(30)
    assert nodes["ticker"].calls(tick)[3:] == [(("at",), {})] * 2
    assert once.cancel() is False


def test_call_timeout_fires_when_the_clock_passes_it(nodes: FakeNodes) -> None:
    # the callback moves the fake clock past the call's timeout (advance returns None: the result is "None")
    nodes.add("worker").serve(process_item, lambda x: str(nodes.clock.advance(5)))  # type: ignore[func-returns-value]
    with pytest.raises(daffi.TimeoutError, match=r"did not finish within 1\.0 s"):
        process_item.call(1) & FG(timeout=1)


def test_async_fetcher_under_asyncio(nodes: FakeNodes) -> None:
    async def square(x: int) -> int:
        await asyncio.sleep(0)
        return x * x

    async def blocked(x: int) -> int:
        await asyncio.Event().wait()  # never set: only the timeout ends this call
        return x

    node = (
        nodes.add("trio-callee").serve(slow_square, square).serve(squares_in_parallel, lambda ns: [n + 1 for n in ns])
    )

    async def main() -> None:
        assert await slow_square(3) == 9
        assert await squares_in_parallel([1, 2]) == [2, 3]
        assert await (slow_square.call(4) & BG).get_async() == 16
        assert await (slow_square.call(5) & BROADCAST) == {"trio-callee": 25}
        node.serve(slow_square, blocked)
        pending = slow_square.call(6) & FG(timeout=2)
        with pytest.raises(daffi.DaffiError, match="would never end"):
            pending.get()  # a blocking wait on the loop that runs the implementation
        nodes.clock.advance(2)
        with pytest.raises(daffi.TimeoutError):
            await pending

    asyncio.run(main())
    assert len(node.calls(slow_square)) == 4


def test_async_fetcher_under_trio(nodes: FakeNodes) -> None:
    async def square(x: int) -> int:
        await trio.sleep(0)  # an implementation may await trio too: it runs as a trio system task
        return x * x

    node = nodes.add("trio-callee").serve(slow_square, lambda x: x + 1)
    node.serve(squares_in_parallel, lambda numbers: [n * n for n in numbers])

    async def main() -> None:
        assert await slow_square(3) == 4
        assert await squares_in_parallel([2, 3]) == [4, 9]
        assert await (slow_square.call(1) & BG).get_async() == 2
        node.serve(slow_square, square)
        assert await slow_square(5) == 25

    trio.run(main)
    assert node.calls(slow_square) == [((3,), {}), ((1,), {}), ((5,), {})]


def test_sync_call_of_an_async_implementation_without_a_loop(nodes: FakeNodes) -> None:
    async def square(x: int) -> int:
        await asyncio.sleep(0)
        return x * x

    nodes.add("trio-callee").serve(slow_square, square)
    assert slow_square(4) == 16  # no loop in this thread: it ran to the end at once


def test_raising_impl_gives_remote_call_error_with_the_traceback(nodes: FakeNodes) -> None:
    def broken(x: int) -> str:
        raise ValueError(f"cannot process {x}")

    nodes.add("worker").serve(process_item, broken)
    with pytest.raises(RemoteCallError) as caught:
        process_item(5)
    error = caught.value
    assert (error.type_name, error.remote_message, error.process_name) == ("ValueError", "cannot process 5", "worker")
    assert "Remote traceback:" in str(error)
    assert 'raise ValueError(f"cannot process {x}")' in str(error)
    assert "test_fakes.py" in error.remote_traceback
    assert "_switchboard.py" not in error.remote_traceback  # the traceback starts at the user's code


def test_down_and_up(nodes: FakeNodes) -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            yield from itertools.count()
        finally:
            closed.set()

    worker = nodes.add("worker").serve(process_item, lambda x: str(x))  # not `str`: it takes no keyword `x`
    producer = nodes.add("producer").serve(naturals, endless)
    assert worker.down() is worker and worker.is_down
    with pytest.raises(RemoteStoppedUnexpectedly, match="'worker' stopped unexpectedly"):
        process_item(1)
    assert "worker" in nodes and worker.calls(process_item) == []
    worker.up()
    assert process_item(2) == "2"

    items = naturals()
    assert next(items) == 0
    producer.down()  # mid-generator: the items sent already arrive, then the error
    assert closed.is_set()
    with pytest.raises(RemoteStoppedUnexpectedly):
        for _ in items:
            pass

    positions: list[int] = []

    def receiver(word: str, position: int) -> None:
        if position == 2:
            nodes["receiver"].down()  # dies in the middle of the stream
        positions.append(position)

    nodes.add("receiver").serve(collect, receiver)
    with pytest.raises(RemoteStoppedUnexpectedly, match="'receiver' stopped unexpectedly"):
        collect.stream([("a", 1), ("b", 2), ("c", 3)])
    assert positions == [1, 2]


def test_what_cannot_be_serialized_fails_as_in_production(nodes: FakeNodes) -> None:
    def items() -> Iterator[int]:
        yield 1

    generator = items()
    for module in ("pickle", "dill"):  # neither can: the argument never leaves the caller
        with pytest.raises(TypeError, match="cannot pickle 'generator' object"):
            __import__(module).dumps(generator)
    worker = nodes.add("worker").serve(process_item, lambda x: str(x))
    with pytest.raises(GlobalContextError, match="cannot serialize the arguments of 'process_item'"):
        process_item(cast(Any, generator))
    assert worker.calls(process_item) == []

    worker.serve(process_item, lambda x: cast(Any, items()))  # a result that cannot travel back
    with pytest.raises(RemoteCallError, match="the result \\(generator\\) cannot be serialized"):
        process_item(1)


def test_unknown_callback_fails_as_in_production(nodes: FakeNodes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("daffi._execute.UNKNOWN_CALLBACK_GRACE", 0.01)  # its 3 s wait for a starting node
    nodes.add("worker")
    with pytest.raises(daffi.UnableToFindCandidate, match="no node offers callback 'process_item'"):
        process_item(1)


def test_fake_nodes_install_and_uninstall() -> None:
    assert running() is None
    with fake_nodes() as nodes:
        assert running() is nodes
        with pytest.raises(daffi.InitializationError, match="already running"), fake_nodes():
            pass
        assert running() is nodes
        nodes.add("worker").serve(process_item, lambda x: str(x))  # not `str`: it takes no keyword `x`
        assert process_item(1) == "1"
        with pytest.raises(ValueError, match="exists already"):
            nodes.add("worker")
    assert running() is None
    with pytest.raises(daffi.InitializationError, match="no Global is running"):
        process_item(1)


def test_serve_is_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mypy --strict accepts implementations that fit their stubs and names the one that does not."""
    monkeypatch.setenv("MYPYPATH", str(ROOT))  # so that `stubs` resolves
    right, wrong = TYPING / "right_serve.py", TYPING / "wrong_serve.py"
    out, err, status = mypy.api.run(
        ["--strict", "--config-file", str(ROOT / "mypy.ini"), "--cache-dir", str(tmp_path), str(right), str(wrong)]
    )
    assert status == 1, out + err
    lines = [line.split("fakes_typing/", 1)[1] for line in out.splitlines() if "fakes_typing/" in line]
    assert lines[0] == (
        'wrong_serve.py:10: error: Argument 2 to "serve" of "FakeNode" has incompatible type "Callable[[int], int]"; '
        'expected "Callable[[int], str]"  [arg-type]'
    ), out
    assert all(line.startswith("wrong_serve.py:") for line in lines), out
