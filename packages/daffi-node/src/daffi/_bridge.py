"""Waiting for a ``concurrent.futures.Future`` from sync code, asyncio or trio."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol, TypeVar

from daffi_core.errors import TimeoutError

__all__ = ["Block", "Condition", "async_library", "interrupted", "wait", "wait_async"]

T = TypeVar("T")


def async_library() -> str | None:
    """``"asyncio"`` or ``"trio"`` when called inside such a running loop, else None."""
    try:
        asyncio.get_running_loop()
        return "asyncio"
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
            return "trio"
        except RuntimeError:
            pass
    return None


def interrupted(interrupt: KeyboardInterrupt) -> None:
    """Prepare a Ctrl-C caught at a public entry point for a bare ``raise`` there.

    What the user sees then ends at their own line: daffi's frames below the entry point (where
    the wait blocked) are cut off the traceback, and so is any exception being handled there.
    On Python 3.11+ the entry point's frame goes too (a bare ``raise`` re-raises the exception's
    own traceback, now empty); 3.10 re-raises the traceback it caught, cut after the entry point.
    """
    tb = interrupt.__traceback__
    if tb is not None:
        tb.tb_next = None
    interrupt.with_traceback(None)
    interrupt.__suppress_context__ = True


class Block(Protocol):
    """How a thread blocks for a future: ``Future.result``, or a link's ``wait`` (which may read meanwhile)."""

    def __call__(self, future: Future[T], timeout: float | None, /) -> T: ...


def wait(future: Future[T], timeout: float | None, what: str, block: Block | None = None) -> T:
    """Block until ``future`` is done; raise daffi's TimeoutError after ``timeout`` seconds."""
    try:
        if block is not None:
            result: T = block(future, timeout)
            return result
        return future.result(timeout)
    except FutureTimeout:
        if future.done():  # the future itself failed with a TimeoutError
            raise
        raise TimeoutError(f"{what} did not finish within {timeout} s") from None


async def wait_async(future: Future[T], timeout: float | None, what: str) -> T:
    """Await ``future`` under asyncio or trio without blocking the event loop."""
    library = async_library()
    if library == "trio":
        return await _wait_trio(future, timeout, what)
    try:
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
    except asyncio.TimeoutError:
        if future.done():
            raise
        raise TimeoutError(f"{what} did not finish within {timeout} s") from None


async def _wait_trio(future: Future[T], timeout: float | None, what: str) -> T:
    import trio

    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: Future[T]) -> None:
        try:
            token.run_sync_soon(done.set)
        except trio.RunFinishedError:
            pass

    future.add_done_callback(wake)
    with trio.move_on_after(timeout if timeout is not None else float("inf")):
        await done.wait()
    if not future.done():
        raise TimeoutError(f"{what} did not finish within {timeout} s")
    return future.result()


class Condition:
    """A condition variable that threads wait on and asyncio or trio code awaits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiters: list[Future[None]] = []

    def __enter__(self) -> None:
        self._cond.acquire()

    def __exit__(self, *exc: object) -> None:
        self._cond.release()

    def notify_all(self) -> None:
        """Wake every waiter, sync or async (call with the lock held)."""
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def until(self, ready: Callable[[], T | None]) -> T:
        """Block until ``ready()`` (run with the lock held) returns something other than None."""
        with self._cond:
            while (value := ready()) is None:
                self._cond.wait()
            return value

    async def until_async(self, ready: Callable[[], T | None], what: str) -> T:
        """``until`` without blocking the event loop."""
        while True:
            with self._cond:
                value = ready()
                if value is not None:
                    return value
                waiter: Future[None] = Future()
                self._waiters.append(waiter)
            await wait_async(waiter, None, what)
