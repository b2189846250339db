"""The gRPC service: one ``Connect`` stream per node, and the catalog for tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import grpc
from daffi_core import framing
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.proto import daffi_pb2_grpc as pb_grpc
from daffi_core.protocol import CONNECT_METHOD, PROTOCOL_VERSION
from google.protobuf.message import DecodeError

from daffi_controller.__about__ import __version__
from daffi_controller.registry import Peer, Registry
from daffi_controller.router import Router

log = logging.getLogger("daffi.controller")
SERVICE = CONNECT_METHOD.split("/")[1]
#: A node's stream carries serialized ``Batch`` messages both ways (see ``register``).
Context = grpc.aio.ServicerContext[bytes, bytes]
#: Seconds a leaving node's writer gets to flush what is queued before it is cancelled.
_WRITER_DRAIN = 2.0


class ControllerServicer(pb_grpc.ControllerServicer):
    """Handshakes nodes, keeps the registry current and hands call traffic to the router."""

    def __init__(self, hello_timeout: float = 10.0) -> None:
        #: A stream that has not said Hello by then is closed (it holds a handler until then).
        self.hello_timeout = hello_timeout
        self.registry = Registry()
        self.router = Router(self.registry)
        self._closing = asyncio.Event()

    async def GetCatalog(  # type: ignore[override]
        self, request: pb.CatalogRequest, context: grpc.aio.ServicerContext[pb.CatalogRequest, pb.Catalog]
    ) -> pb.Catalog:
        return self.registry.catalog()

    async def Connect(  # type: ignore[override]
        self, request_iterator: AsyncIterator[bytes], context: Context
    ) -> None:
        hello = await self._read_hello(context)
        if hello is None:
            return
        peer = Peer(hello.process_name)
        writer = asyncio.create_task(self._write(peer, context))
        closing = asyncio.create_task(self._closing.wait())
        reader: asyncio.Task[str] | None = None
        reason = "connection lost"  # unless we learn better: the handler is cancelled when the stream breaks
        undecodable: DecodeError | None = None
        try:
            self._join(peer, hello)  # inside the try: whatever fails from here on, the node leaves again
            reader = asyncio.create_task(self._read(peer, context))
            await asyncio.wait({reader, closing}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                reason = "controller stopping"
            else:
                failure = reader.exception()
                if failure is None:
                    reason = reader.result()
                elif isinstance(failure, DecodeError):
                    # Bytes from the node that are not a Batch: its fault, not ours.
                    undecodable = failure
                    reason = "sent a message that is not a daffi Batch"
                    log.warning("node %r sent a message that is not a daffi Batch (%s)", peer.name, failure)
                else:
                    log.error("stream of node %r failed", peer.name, exc_info=failure)
                    reason = f"internal error ({failure!r})"
        finally:
            if reader is not None:
                reader.cancel()  # nothing the node sends is dispatched once it has left (the drain may take s)
            self._leave(peer, reason)
            peer.outbox.close()
            closing.cancel()
            # Let the writer drain and finish the write in progress: a write cancelled half-way leaves
            # its operation pending, and the call then never sends its status (the node would wait
            # for the end of the stream forever).
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({writer}, timeout=_WRITER_DRAIN)
            for task in (writer, reader):
                if task is None:
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if undecodable is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not a daffi Batch message: {undecodable}")

    def close(self) -> None:
        """End every node's stream (each handler returns and the call ends with OK) before the server stops."""
        self._closing.set()

    async def _read(self, peer: Peer, context: Context) -> str:
        """Dispatch the node's frames until its stream ends; returns why it ended."""
        try:
            while True:
                raw = await context.read()
                if not isinstance(raw, bytes):  # grpc.aio.EOF
                    return "disconnected"
                batch = pb.Batch.FromString(raw)
                views = framing.message_views(raw)
                if views is None or len(views) != len(batch.frames):
                    views = [None] * len(batch.frames)
                for frame, view in zip(batch.frames, views, strict=True):
                    self._dispatch(peer, frame, view)
                if self.router.congested:  # receivers this batch fed are behind: let them catch up
                    congested, self.router.congested = self.router.congested, set()
                    for receiver in congested:
                        if receiver is not peer:
                            await receiver.outbox.drained()
        except grpc.RpcError as exc:
            return f"connection lost ({exc.code().name if hasattr(exc, 'code') else exc})"

    async def _read_hello(self, context: Context) -> pb.Hello | None:
        try:
            raw = await asyncio.wait_for(context.read(), self.hello_timeout)
            first = pb.Batch.FromString(raw) if isinstance(raw, bytes) else None
        except asyncio.TimeoutError:
            await self._reject(context, pb.Reject.BAD_HELLO, f"no Hello within {self.hello_timeout:g} s")
            return None
        except DecodeError as exc:
            await self._reject(context, pb.Reject.BAD_HELLO, f"the first message is not a daffi Batch: {exc}")
            return None
        if first is None or not first.frames or not first.frames[0].HasField("hello"):
            await self._reject(context, pb.Reject.BAD_HELLO, "the first frame of a stream must be Hello")
            return None
        hello = first.frames[0].hello
        if hello.protocol_version != PROTOCOL_VERSION:
            await self._reject(
                context,
                pb.Reject.PROTOCOL_MISMATCH,
                f"node {hello.process_name!r} speaks daffi protocol {hello.protocol_version} but this controller "
                f"(daffi-controller {__version__}) speaks protocol {PROTOCOL_VERSION}: "
                "install the same daffi version on nodes and controller",
            )
            return None
        if not hello.process_name:
            await self._reject(context, pb.Reject.BAD_HELLO, "Hello has an empty process_name")
            return None
        if hello.process_name in self.registry.nodes:
            await self._reject(
                context,
                pb.Reject.DUPLICATE_NAME,
                f"a node named {hello.process_name!r} is already connected: give each process a unique process_name",
            )
            return None
        return hello

    @staticmethod
    async def _reject(context: Context, reason: pb.Reject.Reason.ValueType, message: str) -> None:
        log.warning("refused a node: %s", message)
        await context.write(framing.batch([framing.frame(pb.Frame(reject=pb.Reject(reason=reason, message=message)))]))

    def _join(self, peer: Peer, hello: pb.Hello) -> None:
        others = [p.info() for p in self.registry.nodes.values()]
        self.registry.add(peer, hello.callbacks)
        peer.send(
            pb.Frame(
                welcome=pb.Welcome(protocol_version=PROTOCOL_VERSION, controller_version=__version__, nodes=others)
            )
        )
        self._announce(peer)
        log.info("node %r joined with %d callback(s)", peer.name, len(peer.callbacks))

    def _leave(self, peer: Peer, reason: str) -> None:
        if self.registry.nodes.get(peer.name) is not peer:
            return
        self.registry.remove(peer)
        self.router.drop_node(peer.name)
        frame = pb.Frame(node_left=pb.NodeLeft(process_name=peer.name, reason=reason))
        for other in self.registry.nodes.values():
            other.send(frame)
        log.info("node %r left: %s", peer.name, reason)

    def _announce(self, peer: Peer) -> None:
        frame = pb.Frame(node_joined=peer.info())
        for other in self.registry.nodes.values():
            if other is not peer:
                other.send(frame)

    def _dispatch(self, peer: Peer, frame: pb.Frame, raw: memoryview | None = None) -> None:
        body = frame.WhichOneof("body")
        if body == "message":
            self.router.handle(peer, frame.message, raw)
        elif body == "callbacks":
            self.registry.set_callbacks(peer, frame.callbacks.callbacks)
            self._announce(peer)
        else:
            log.warning("node %r sent an unexpected %s frame; ignored", peer.name, body)

    @staticmethod
    async def _write(peer: Peer, context: Context) -> None:
        while (batch := await peer.outbox.next_batch()) is not None:
            await context.write(batch)


def register(servicer: ControllerServicer, server: grpc.aio.Server) -> None:
    """Serve ``servicer`` on ``server``: ``Connect`` with raw bytes (the servicer parses and
    serializes batches itself, so forwarded payloads are not copied), ``GetCatalog`` as generated."""
    handlers = {
        "Connect": grpc.stream_stream_rpc_method_handler(servicer.Connect),
        "GetCatalog": grpc.unary_unary_rpc_method_handler(
            servicer.GetCatalog,
            request_deserializer=pb.CatalogRequest.FromString,
            response_serializer=pb.Catalog.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


__all__ = ["ControllerServicer", "register"]
