"""The gRPC link: one bidirectional ``Connect`` stream, driven by the node's loop.

Frames from any thread are posted to the loop, queued in an ``Outbox`` and written in batches by
one writer task; batches are read on the loop and handed to the handlers there. A stream that
breaks is reopened with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import grpc
from daffi_core import framing
from daffi_core.framing import Encoded
from daffi_core.outbox import Outbox
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CONNECT_METHOD
from daffi_core.transport import GRPC, mismatch
from daffi_core.transport.grpc import channel, client_options
from daffi_core.transport.sniff import speaker

from daffi._link import Backoff, LoopLink, Rejected

__all__ = ["GrpcLink"]

log = logging.getLogger("daffi.node")


class GrpcLink(LoopLink):
    """A ``Link`` over gRPC (see the module docstring)."""

    transport = GRPC
    # Set per session (the constructor is LinkBase's).
    _outbox: Outbox | None = None
    _call: grpc.aio.StreamStreamCall[bytes, pb.Batch] | None = None
    _writer: asyncio.Task[None] | None = None
    _probed = False

    def _send_on_loop(self, frames: Sequence[Encoded]) -> None:
        outbox = self._outbox
        if outbox is not None:
            for frame in frames:
                outbox.put(frame)

    async def _stop(self) -> None:
        self.stopping = True
        if self._outbox is not None:
            self._outbox.close()
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        chan = channel(self.address.target, self.security, client_options(self.keepalive))
        # Batches go out already serialized (daffi_core.framing) and come in parsed.
        connect: grpc.aio.StreamStreamMultiCallable[bytes, pb.Batch] = chan.stream_stream(
            CONNECT_METHOD, request_serializer=None, response_deserializer=pb.Batch.FromString
        )
        backoff = Backoff()
        try:
            while not self.stopping:
                established = False
                try:
                    established = await self._session(connect)
                except Rejected as rejected:
                    if self.give_up(f"the controller refused this node: {rejected}"):
                        return
                    log.error("the controller refused this node on reconnect: %s", rejected)
                except grpc.aio.AioRpcError as exc:
                    if await self._fatal(exc):
                        return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a dropped stream
                    log.debug("connection to %s ended: %r", self.address, exc)
                finally:
                    self._outbox_closed()
                    self.session_ended()
                if established:
                    backoff.reset()
                if self.stopping:
                    break
                await asyncio.sleep(backoff.next())
        finally:
            with contextlib.suppress(Exception):
                await chan.close(None)

    async def _fatal(self, exc: grpc.aio.AioRpcError) -> bool:
        """Whether ``exc`` ends the first connect for good (a refusal, or a controller of another transport)."""
        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
            if self.give_up(f"the controller refused this node: {exc.details()}"):
                return True
            log.error("the controller refused this node on reconnect: %s", exc.details())
            return False
        log.debug("connection to %s ended: %r", self.address, exc)
        if exc.code() == grpc.StatusCode.UNAVAILABLE and not self.started and not self._probed:
            self._probed = True  # once: a controller that is still starting is not probed again and again
            loop = asyncio.get_running_loop()
            theirs = await loop.run_in_executor(None, speaker, self.address, self.security, 1.0)
            if theirs is not None and theirs != GRPC:
                return self.give_up(mismatch(self.address, GRPC, theirs))
        return False

    async def _session(self, connect: grpc.aio.StreamStreamMultiCallable[bytes, pb.Batch]) -> bool:
        call = connect(metadata=self.security.metadata)
        self._call = call
        await call.write(framing.batch([framing.frame(self.hello_frame())]))
        first = await call.read()
        outbox = Outbox()
        self._outbox = outbox  # before the Welcome is handled: its handlers may already send
        rest = self.welcomed(first if isinstance(first, pb.Batch) else None)
        for frame in rest:
            self.handlers.frame(frame)
        self._writer = asyncio.get_running_loop().create_task(self._write(call, outbox))
        on_frame = self.handlers.frame
        try:
            while True:
                batch = await call.read()
                if not isinstance(batch, pb.Batch):
                    return True
                for frame in batch.frames:
                    on_frame(frame)
        finally:
            self._writer.cancel()

    def _outbox_closed(self) -> None:
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    @staticmethod
    async def _write(call: grpc.aio.StreamStreamCall[bytes, pb.Batch], outbox: Outbox) -> None:
        while (batch := await outbox.next_batch()) is not None:
            await call.write(batch)
        with contextlib.suppress(Exception):
            await call.done_writing()
