"""Outgoing frames of one stream, sent in batches.

Frames queued while the previous batch was being written travel together in the
next gRPC message; an idle stream sends each frame at once. Frames arrive encoded
(``daffi_core.framing``) and leave as one serialized ``Batch``.
"""

from __future__ import annotations

import asyncio

from daffi_core.framing import Encoded, batch
from daffi_core.protocol import BATCH_BYTES, QUEUE_HIGH_BYTES, QUEUE_LOW_BYTES

__all__ = ["Outbox"]

_CLOSE = object()


class Outbox:
    """A queue of frames drained into ``Batch`` messages by one writer task."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Encoded | object] = asyncio.Queue()
        self._closed = False
        self._queued = 0  # payload bytes waiting
        self._drained: asyncio.Event | None = None

    def put(self, frame: Encoded) -> None:
        """Queue a frame (on the stream's event loop)."""
        if not self._closed:
            self._queue.put_nowait(frame)
            self._queued += frame.payload

    @property
    def congested(self) -> bool:
        """More than ``QUEUE_HIGH_BYTES`` of payload waits to be written."""
        return self._queued > QUEUE_HIGH_BYTES

    async def drained(self) -> None:
        """Wait until at most ``QUEUE_LOW_BYTES`` of payload waits, or the outbox is closed."""
        while self._queued > QUEUE_LOW_BYTES and not self._closed:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    def close(self) -> None:
        """Let ``next_batch`` return None once what is queued has been taken."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSE)
            self._wake_drained()

    def _wake_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    @property
    def closed(self) -> bool:
        return self._closed

    async def next_batch(self) -> bytes | None:
        """Wait for at least one frame; every frame queued, up to ``BATCH_BYTES``, as a serialized ``Batch``."""
        item = await self._queue.get()
        frames: list[Encoded] = []
        payload = size = 0
        while True:
            if not isinstance(item, Encoded):  # _CLOSE: what was queued before it is taken
                if frames:
                    self._queue.put_nowait(_CLOSE)
                    break
                return None
            frames.append(item)
            payload += item.payload
            # Every byte counts towards gRPC's message limit, not only payloads: a burst of frames
            # without payload (error replies listing every callback) would otherwise make one
            # batch of any size, and a batch over MAX_MESSAGE_BYTES kills the stream.
            size += item.size
            if size >= BATCH_BYTES or self._queue.empty():
                break
            item = self._queue.get_nowait()
        self._queued -= payload
        if self._queued <= QUEUE_LOW_BYTES:
            self._wake_drained()
        return batch(frames)
