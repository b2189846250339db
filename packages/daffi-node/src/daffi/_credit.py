"""Credit for a producer that must not run ahead of its consumer by more than a window."""

from __future__ import annotations

import threading
from concurrent.futures import Future

from daffi._bridge import wait_async


class Credit:
    """``take`` blocks while ``window`` items are unacknowledged; ``grant`` records acknowledgements."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._sent = 0
        self._acked = 0
        self._closed = False
        self._cond = threading.Condition()
        self._waiters: list[Future[None]] = []

    def _available(self) -> bool:
        return self._closed or self._sent - self._acked < self._window

    def take(self) -> bool:
        """Wait for room for one more item; False once closed."""
        with self._cond:
            while not self._available():
                self._cond.wait()
            self._sent += 1
            return not self._closed

    async def take_async(self) -> bool:
        while True:
            with self._cond:
                if self._available():
                    self._sent += 1
                    return not self._closed
                waiter: Future[None] = Future()
                self._waiters.append(waiter)
            await wait_async(waiter, None, "generator credit")

    def grant(self, acked: int) -> None:
        with self._cond:
            self._acked = max(self._acked, acked)
            self._wake()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    def _wake(self) -> None:
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
