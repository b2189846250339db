"""The ``daffi._link.Link`` the real ``Caller`` of ``fake_nodes()`` sends over."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol, TypeVar

from daffi_core.address import Address
from daffi_core.errors import DaffiError
from daffi_core.framing import Encoded

from daffi._runtime import Timer
from daffi.testing._clock import FakeClock

__all__ = ["Board", "FakeLink"]

T = TypeVar("T")


class Board(Protocol):
    """What the link hands frames to and asks (the switchboard)."""

    process_name: str
    clock: FakeClock
    open: bool

    def receive(self, frames: Sequence[Encoded]) -> None:
        """Route and answer the frames the caller sent."""

    def runs_on_this_loop(self) -> bool:
        """An async implementation runs on the event loop of the calling thread."""


class FakeLink:
    """``daffi._link.Link`` for the real ``Caller``: what it sends is answered by the switchboard.

    ``call_later`` runs on the fake clock, so a call's timeout fires when a test advances the
    clock past it, never by itself.
    """

    def __init__(self, board: Board) -> None:
        self.process_name = board.process_name
        self.address = Address(unix_path=Path("daffi.testing.fake_nodes"))
        self.server_kind = "controller"
        self._board = board

    @property
    def connected(self) -> bool:
        return self._board.open

    def start(self, timeout: float) -> None:
        """Nothing to connect to."""

    def stop(self) -> None:
        """Nothing to disconnect from."""

    def wait_connected(self, timeout: float) -> bool:
        return self._board.open

    def send(self, frames: Sequence[Encoded]) -> None:
        if self._board.open:
            self._board.receive(frames)

    def post(self, fn: Callable[..., None], *args: object) -> None:
        fn(*args)

    def call_later(self, delay: float, fn: Callable[..., None], *args: object) -> Timer:
        return self._board.clock.timer(delay, fn, *args)

    def wait(self, future: Future[T], timeout: float | None) -> T:
        if not future.done() and self._board.runs_on_this_loop():
            raise DaffiError(
                "a blocking wait for a fake node's async implementation from the event loop that runs it would "
                "never end: await the call (await f(...), await result.get_async()) instead of using its value "
                "or calling get() there"
            )
        return future.result(timeout)

    def inline(self) -> bool:
        return False

    def serving(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()
