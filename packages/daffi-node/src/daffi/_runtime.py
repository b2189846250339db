"""The node's own event loop, in a daemon thread: timers, scheduled tasks, and gRPC traffic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import TypeVar

__all__ = ["Runtime", "Timer"]

T = TypeVar("T")
log = logging.getLogger("daffi.node")
#: Seconds the loop's tasks get to end once cancelled, when the node closes.
DRAIN_TIMEOUT = 2.0
#: Timers cancelled off the loop have their loop handles cancelled in batches of this many: a call's
#: timeout timer (often a minute) would otherwise sit in the loop until due, ~0.5 KiB per call.
DISARM_BATCH = 256


class Runtime:
    """An event loop running in a background thread, reachable from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, name: str = "daffi-loop") -> None:
        self.loop = loop or asyncio.new_event_loop()
        self._posted: list[tuple[Callable[..., None], tuple[object, ...]]] = []
        self._posted_lock = threading.Lock()
        self._cancelled: list[Timer] = []
        self._cancelled_lock = threading.Lock()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def on_loop(self) -> bool:
        """The calling thread is the loop's."""
        return threading.current_thread() is self.thread

    def run(self, coro: Coroutine[object, object, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def post(self, fn: Callable[..., None], *args: object) -> None:
        """Run ``fn(*args)`` on the loop, from any thread, in the order posted.

        Posts made while the loop is busy share one wake-up: under load many calls cost a
        single ``call_soon_threadsafe`` (a syscall each) instead of one apiece.
        """
        with self._posted_lock:
            self._posted.append((fn, args))
            if len(self._posted) > 1:
                return
        try:
            self.loop.call_soon_threadsafe(self._run_posted)
        except RuntimeError:  # the loop is closed: the node is gone, and so is what was posted
            with self._posted_lock:
                self._posted.clear()
            raise

    def _run_posted(self) -> None:
        with self._posted_lock:
            posted, self._posted = self._posted, []
        for fn, args in posted:
            try:
                fn(*args)
            except Exception:
                log.exception("node loop job %r failed", fn)

    def call_later(self, delay: float, fn: Callable[..., None], *args: object) -> Timer:
        """Run ``fn(*args)`` on the loop after ``delay`` seconds; callable from any thread."""
        timer = Timer(fn, args, self._cancelled_timer)
        if self.on_loop:
            timer.arm(self.loop, delay)
        else:
            self.post(timer.arm, self.loop, delay)
        return timer

    def _cancelled_timer(self, timer: Timer) -> None:
        """``timer`` was cancelled: its loop handle goes too (at once on the loop, else in a batch)."""
        if self.on_loop:
            timer.disarm()
            return
        with self._cancelled_lock:
            self._cancelled.append(timer)
            if len(self._cancelled) < DISARM_BATCH:
                return
            batch, self._cancelled = self._cancelled, []
        with contextlib.suppress(RuntimeError):  # the loop is closed: its handles went with it
            self.post(_disarm, batch)

    def close(self) -> None:
        """Cancel the loop's tasks and let them end, then stop and close the loop.

        A task still pending when its loop goes would be reported at exit ("Task was destroyed but
        it is pending!"); so would async generators never finalized.
        """
        if self.loop.is_closed():
            return
        if not self.on_loop and self.thread.is_alive():
            with contextlib.suppress(Exception):
                self.run(self._drain(), DRAIN_TIMEOUT + 1)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(5)
            if not self.thread.is_alive():
                self.loop.close()

    async def _drain(self) -> None:
        me = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not me]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT)
            if stuck:
                log.debug("%d task(s) of the node loop did not end when cancelled: %r", len(stuck), stuck)
        await self.loop.shutdown_asyncgens()


class Timer:
    """A delayed call on the node's loop; ``cancel()`` from any thread stops it from running."""

    __slots__ = ("_args", "_fn", "_handle", "_on_cancel", "cancelled")

    def __init__(
        self, fn: Callable[..., None], args: tuple[object, ...], on_cancel: Callable[[Timer], None] | None = None
    ) -> None:
        self._fn: Callable[..., None] | None = fn
        self._args = args
        self._handle: asyncio.TimerHandle | None = None
        self._on_cancel = on_cancel
        self.cancelled = False

    def arm(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        if not self.cancelled:
            self._handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        fn, args = self._fn, self._args
        self._handle = None
        self._drop()
        if fn is not None and not self.cancelled:
            fn(*args)

    def cancel(self) -> None:
        """Never run; the loop's handle is cancelled on the loop (``Runtime``)."""
        if self.cancelled:
            return
        self.cancelled = True
        self._drop()  # what it refers to (a call record) is not kept alive until then
        if self._on_cancel is not None:
            self._on_cancel(self)

    def disarm(self) -> None:
        """Cancel the loop's handle (on the loop's thread only)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _drop(self) -> None:
        self._fn = None
        self._args = ()


def _disarm(timers: list[Timer]) -> None:
    for timer in timers:
        timer.disarm()
