"""Where user code runs: daemon threads for sync callbacks, one loop for async ones.

The node's own event loop never runs user code, so a callback that blocks or
makes a nested call cannot stall the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar, cast

if TYPE_CHECKING:
    import trio

__all__ = ["AsyncRunner", "Backend", "DaemonPool", "Escaped"]

T = TypeVar("T")
#: Where async callbacks run: an asyncio loop or a trio run.
Backend: TypeAlias = Literal["asyncio", "trio"]


class DaemonPool:
    """A thread pool whose threads never keep the process alive at exit."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Future[object], Callable[[], object]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(RuntimeError("the worker pool is shut down"))
                return future
            self._jobs.put((cast("Future[object]", future), fn))
            if self._idle:  # an idle worker will take it
                self._idle -= 1
            elif self._threads < self._max:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._threads}", daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:
                    future.set_exception(exc)
            del job, future, fn  # an idle worker must not keep its last call's arguments and result alive
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            for _ in range(self._threads):
                self._jobs.put(None)


class Escaped(Exception):
    """``SystemExit`` or ``KeyboardInterrupt`` raised by user code on the async runner.

    Raised as is, either would stop the runner's loop (asyncio and trio re-raise them out of
    a task) and no async callback would ever run again; carried as an ordinary error instead.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"{type(original).__name__}: {original}")
        self.original = original


class AsyncRunner:
    """Runs coroutines of user code on one event loop in a daemon thread (asyncio or trio)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._trio_token: trio.lowlevel.TrioToken | None = None
        self._trio_stop: trio.Event | None = None
        self._nursery: trio.Nursery | None = None
        self._thread = threading.Thread(target=self._main, name="daffi-async-callbacks", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _main(self) -> None:
        if self.backend == "trio":
            import trio

            async def main() -> None:
                self._trio_token = trio.lowlevel.current_trio_token()
                self._trio_stop = trio.Event()
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self._ready.set()
                    await self._trio_stop.wait()
                    nursery.cancel_scope.cancel()

            trio.run(main)
        else:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.call_soon(self._ready.set)
            loop.run_forever()
            with contextlib.suppress(Exception):
                loop.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, make: Callable[[], Awaitable[T]]) -> Future[T]:
        """Run ``make()`` on the runner's loop; the future completes with its result.

        ``SystemExit`` and ``KeyboardInterrupt`` from ``make()`` arrive as ``Escaped``.
        """
        contained = _contained(make)
        if self.backend == "trio":
            future: Future[T] = Future()

            async def job() -> None:
                try:
                    future.set_result(await contained())
                except BaseException as exc:
                    future.set_exception(exc)

            token, nursery = self._trio_token, self._nursery
            assert token is not None and nursery is not None  # set before the thread's ready
            token.run_sync_soon(nursery.start_soon, job)
            return future
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(contained(), self._loop)

    def stop(self) -> None:
        if self.backend == "trio":
            with contextlib.suppress(Exception):
                assert self._trio_token is not None and self._trio_stop is not None
                self._trio_token.run_sync_soon(self._trio_stop.set)
        elif self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2)


def _contained(make: Callable[[], Awaitable[T]]) -> Callable[[], Coroutine[object, object, T]]:
    async def run() -> T:
        try:
            return await make()
        except (SystemExit, KeyboardInterrupt) as exc:
            raise Escaped(exc) from None

    return run
