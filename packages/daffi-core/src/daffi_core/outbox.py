"""Outgoing frames of one stream, sent in batches.

Frames queued while the previous batch was being written travel together in the
next gRPC message; an idle stream sends each frame at once.
"""

from __future__ import annotations

import asyncio

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import BATCH_BYTES

_CLOSE = object()


class Outbox:
    """A queue of frames drained into ``Batch`` messages by one writer task."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[pb.Frame | object] = asyncio.Queue()
        self._closed = False

    def put(self, frame: pb.Frame) -> None:
        """Queue a frame (on the stream's event loop)."""
        if not self._closed:
            self._queue.put_nowait(frame)

    def close(self) -> None:
        """Let ``next_batch`` return None once what is queued has been taken."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSE)

    @property
    def closed(self) -> bool:
        return self._closed

    async def next_batch(self) -> pb.Batch | None:
        """Wait for at least one frame and return every frame queued, up to ``BATCH_BYTES``."""
        item = await self._queue.get()
        if item is _CLOSE:
            return None
        frames = [item]
        size = _payload_size(item)
        while size < BATCH_BYTES and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _CLOSE:
                self._queue.put_nowait(_CLOSE)
                break
            frames.append(item)
            size += _payload_size(item)
        return pb.Batch(frames=frames)  # type: ignore[arg-type]


def _payload_size(frame: object) -> int:
    assert isinstance(frame, pb.Frame)
    return len(frame.message.payload) if frame.HasField("message") else 0


__all__ = ["Outbox"]
