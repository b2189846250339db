"""Credit for a producer that must not run ahead of its consumer by more than a window."""

from __future__ import annotations

from daffi._bridge import Condition

__all__ = ["Credit"]


class Credit:
    """``take`` blocks while ``window`` items are unacknowledged; ``grant`` records acknowledgements."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._sent = 0
        self._acked = 0
        self._closed = False
        self._cond = Condition()

    def _take(self) -> bool | None:
        if self._closed:
            return False
        if self._sent - self._acked >= self._window:
            return None
        self._sent += 1
        return True

    def take(self) -> bool:
        """Wait for room for one more item; False once closed."""
        return self._cond.until(self._take)

    async def take_async(self) -> bool:
        return await self._cond.until_async(self._take, "generator credit")

    def grant(self, acked: int) -> None:
        with self._cond:
            self._acked = max(self._acked, acked)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
