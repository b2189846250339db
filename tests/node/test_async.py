"""Async callers (asyncio and trio) and async callbacks, with real processes, over TCP and UNIX."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import daffi
import pytest
import trio
from daffi import BG, BROADCAST, FG, STREAM, AsyncResult, __body_unknown__, fetcher

from tests.support.nodes import caller
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats


@fetcher(FG)
async def add(a: int, b: int) -> int:
    __body_unknown__(a, b)
    return 0  # never run


@fetcher(FG)
async def slow(seconds: float) -> str:
    __body_unknown__(seconds)
    return ""  # never run


@fetcher(FG)
async def count_up(n: int) -> Iterator[int]:
    __body_unknown__(n)
    return iter(())  # never run


def test_asyncio_caller(procs: Procs, controller: Where, capsys: pytest.CaptureFixture[str]) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:

        async def main() -> None:
            await g.wait_process_async("svc", timeout=5)
            await g.wait_function_async("add", timeout=5)
            assert await add(2, 3) == 5

            # Contract decision 2: an async fetcher called without await still gives the real value.
            value: Any = add(5, 15)
            print(f"Result = {value}")
            assert value == 20
            assert value + 1 == 21
            print(add(1, 1))

            result = g.call.add(1, 2) & BG
            assert isinstance(result, AsyncResult)
            assert await result.get_async() == 3
            assert await result.get_async(timeout=5) == 3

            assert [i async for i in count_up(5)] == [0, 1, 2, 3, 4]

            with pytest.raises(daffi.TimeoutError):
                await g.wait_process_async("nope", timeout=0.3)

        asyncio.run(main())
    assert capsys.readouterr().out.splitlines() == ["Result = 20", "2"]


def test_asyncio_await_does_not_block_the_loop(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller):

        async def main() -> tuple[str, int]:
            beats = 0
            done = asyncio.Event()

            async def heartbeat() -> None:
                nonlocal beats
                while not done.is_set():
                    beats += 1
                    await asyncio.sleep(0.05)

            async def call() -> str:
                try:
                    name: str = await slow(1.0)  # a fetcher's call is untyped (Any)
                    return name
                finally:
                    done.set()

            name, _ = await asyncio.gather(call(), heartbeat())
            return name, beats

        name, beats = asyncio.run(main())
    assert name == "svc"
    assert beats >= 5, beats  # the loop kept running during the 1 s remote call


def test_trio_caller(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:

        async def main() -> None:
            await g.wait_process_async("svc", timeout=5)
            assert await add(2, 3) == 5
            result = g.call.add(4, 5) & BG
            assert await result.get_async() == 9
            assert await (g.call.whoami() & BG).get_async(timeout=5) == "svc"
            assert [i async for i in count_up(3)] == [0, 1, 2]
            start = time.monotonic()
            with pytest.raises(daffi.TimeoutError):
                await (g.call.slow(1.5) & BG).get_async(timeout=0.3)
            assert time.monotonic() - start < 2

        trio.run(main)


def test_async_callback_called_from_sync(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert g.call.async_add(2, 3) & FG == 5
        assert (g.call.async_add(a=10, b=-4) & BG).get(timeout=10) == 6


def test_async_fetchers_with_other_modifiers(procs: Procs, controller: Where) -> None:
    procs.service(controller, "a")
    procs.service(controller, "b")

    @fetcher(BROADCAST)
    async def whoami() -> str:
        __body_unknown__()
        return ""

    @fetcher(STREAM)
    async def collect(items: Any) -> None:
        __body_unknown__(items)

    @fetcher(BG)
    async def add(a: int, b: int) -> int:
        __body_unknown__(a, b)
        return 0

    with caller(controller) as g:

        async def main() -> None:
            assert await whoami() == {"a": "a", "b": "b"}
            await collect([(1, 2), (3, 4)])
            assert g.call.received() & BROADCAST == {"a": [(1, 2), (3, 4)], "b": [(1, 2), (3, 4)]}
            result = add(1, 2)
            assert isinstance(result, AsyncResult)
            assert await result.get_async(timeout=10) == 3

            collect([(5, 6)])  # never awaited nor used: the call is made all the same
            expected = [(1, 2), (3, 4), (5, 6)]
            deadline = time.monotonic() + 10
            while g.call.received() & BROADCAST != {"a": expected, "b": expected}:
                assert time.monotonic() < deadline, "the un-awaited STREAM did not arrive"
                await asyncio.sleep(0.05)

        asyncio.run(main())
