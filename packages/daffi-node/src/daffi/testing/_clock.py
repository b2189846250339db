"""The fake nodes' time: nothing that waits on it happens until a test advances it."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from daffi._runtime import Timer

__all__ = ["Due", "FakeClock"]


class Due:
    """One thing to do at a point of the fake clock's time; ``cancel()`` forgets it."""

    __slots__ = ("fn", "when")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn: Callable[[], None] | None = fn

    def cancel(self) -> None:
        self.fn = None  # what it refers to (a call record) is let go at once

    @property
    def cancelled(self) -> bool:
        return self.fn is None


class FakeClock:
    """The time of ``fake_nodes()``: UNIX seconds, starting at ``time.time()``, moved by ``advance``.

    What waits on it: ``PERIOD`` runs (``interval`` and ``at_time``, both in this clock's time),
    ``BG(eta=...)`` delays, and the call timeouts of the caller (``FG(timeout=...)`` and the like:
    a call times out when the clock passes its deadline, never by itself).
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._queue: list[tuple[float, int, Due]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current fake time (UNIX seconds)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running in order everything that falls due meanwhile.

        Runs happen in the calling thread; what they schedule within the window runs too.
        """
        if seconds < 0:
            raise ValueError(f"the fake clock only moves forward (advance({seconds}))")
        with self._lock:
            target = self._now + seconds
        while True:
            with self._lock:
                while self._queue and self._queue[0][2].cancelled:
                    heapq.heappop(self._queue)
                if not self._queue or self._queue[0][0] > target:
                    self._now = max(self._now, target)
                    return
                when, _, due = heapq.heappop(self._queue)
                self._now = max(self._now, when)
                fn = due.fn
                due.cancel()
            if fn is not None:
                fn()

    def call_at(self, when: float, fn: Callable[[], None]) -> Due:
        """Run ``fn()`` once the clock reaches ``when``."""
        due = Due(when, fn)
        with self._lock:
            heapq.heappush(self._queue, (when, next(self._order), due))
        return due

    def call_later(self, delay: float, fn: Callable[[], None]) -> Due:
        """Run ``fn()`` once the clock has moved ``delay`` seconds from now."""
        return self.call_at(self._now + delay, fn)

    def timer(self, delay: float, fn: Callable[..., None], *args: object) -> Timer:
        """A ``daffi._runtime.Timer`` on this clock (what ``Link.call_later`` returns)."""
        timer = _ClockTimer(fn, args)
        timer.due = self.call_later(delay, lambda: timer.fire())
        return timer

    @property
    def pending(self) -> int:
        """How many things wait for the clock."""
        with self._lock:
            return sum(1 for _, _, due in self._queue if not due.cancelled)


class _ClockTimer(Timer):
    """A Timer whose cancel also takes it off the clock."""

    __slots__ = ("action", "due")

    def __init__(self, fn: Callable[..., None], args: tuple[object, ...]) -> None:
        super().__init__(fn, args)
        self.action: tuple[Callable[..., None], tuple[object, ...]] | None = (fn, args)
        self.due: Due | None = None

    def fire(self) -> None:
        action, self.action = self.action, None
        if action is not None and not self.cancelled:
            action[0](*action[1])

    def cancel(self) -> None:
        super().cancel()
        self.action = None
        if self.due is not None:
            self.due.cancel()
