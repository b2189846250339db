"""The gRPC front of the controller: one ``Connect`` stream per node, the catalog, the token check, health.

Each stream is read by the handler and written by a writer task draining the node's ``Outbox``;
what the frames mean is the switchboard's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.outbox import Outbox
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.proto import daffi_pb2_grpc as pb_grpc
from daffi_core.protocol import CONNECT_METHOD
from daffi_core.security import TOKEN_METADATA, TOKEN_REFUSAL
from daffi_core.transport.grpc import server_credentials, server_options
from daffi_core.transport.socket.server import bind
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from daffi_controller.config import ServerConfig
from daffi_controller.registry import Peer
from daffi_controller.switchboard import Refusal, Switchboard, no_hello

__all__ = ["ControllerServicer", "GrpcFront", "TokenCheck", "register"]

log = logging.getLogger("daffi.controller")
SERVICE = CONNECT_METHOD.split("/")[1]
#: A node's stream carries serialized ``Batch`` messages both ways (see ``register``).
Context = grpc.aio.ServicerContext[bytes, bytes]
#: Seconds a leaving node's writer gets to flush what is queued before it is cancelled.
_WRITER_DRAIN = 2.0
_HEALTH = "/grpc.health.v1.Health/"


class ControllerServicer(pb_grpc.ControllerServicer):
    """``Connect``, ``GetCatalog`` and ``Inspect`` over gRPC, on a ``Switchboard``."""

    def __init__(self, hello_timeout: float = 10.0, board: Switchboard | None = None) -> None:
        #: A stream that has not said Hello by then is closed (it holds a handler until then).
        self.hello_timeout = hello_timeout
        self.board = board or Switchboard()
        self.registry = self.board.registry
        self.router = self.board.router
        self._closing = asyncio.Event()

    async def GetCatalog(  # type: ignore[override]
        self, request: pb.CatalogRequest, context: grpc.aio.ServicerContext[pb.CatalogRequest, pb.Catalog]
    ) -> pb.Catalog:
        return self.board.catalog()

    async def Inspect(  # type: ignore[override]
        self, request: pb.InspectRequest, context: grpc.aio.ServicerContext[pb.InspectRequest, pb.Inspection]
    ) -> pb.Inspection:
        return self.board.inspection()

    async def Connect(  # type: ignore[override]
        self, request_iterator: AsyncIterator[bytes], context: Context
    ) -> None:
        hello = await self._read_hello(context)
        if hello is None:
            return
        peer = Peer(hello.process_name, Outbox(), address=_address(context.peer()))
        writer = asyncio.create_task(self._write(peer, context))
        closing = asyncio.create_task(self._closing.wait())
        reader: asyncio.Task[str] | None = None
        reason = "connection lost"  # unless we learn better: the handler is cancelled when the stream breaks
        undecodable: DecodeError | None = None
        try:
            self.board.join(peer, hello)  # inside the try: whatever fails from here on, the node leaves again
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
            self.board.leave(peer, reason)
            peer.sink.close()
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
        """Dispatch the node's batches until its stream ends; returns why it ended."""
        try:
            while True:
                raw = await context.read()
                if not isinstance(raw, bytes):  # grpc.aio.EOF
                    return "disconnected"
                for receiver in self.board.receive(peer, raw):  # receivers this batch fed are behind
                    await receiver.sink.drained()
        except grpc.RpcError as exc:
            return f"connection lost ({exc.code().name if hasattr(exc, 'code') else exc})"

    async def _read_hello(self, context: Context) -> pb.Hello | None:
        answer: pb.Hello | Refusal
        try:
            raw = await asyncio.wait_for(context.read(), self.hello_timeout)
        except asyncio.TimeoutError:
            answer = self.board.refused(no_hello(self.hello_timeout))
        else:
            answer = self.board.hello(raw if isinstance(raw, bytes) else None)
        if isinstance(answer, Refusal):
            await context.write(answer.batch())
            return None
        return answer

    @staticmethod
    async def _write(peer: Peer, context: Context) -> None:
        outbox = peer.sink
        assert isinstance(outbox, Outbox)
        while (batch := await outbox.next_batch()) is not None:
            await context.write(batch)


class TokenCheck(grpc.aio.ServerInterceptor):
    """Refuses calls without the right token, before any handler runs (constant-time comparison)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if details.method.startswith(_HEALTH):
            return await continuation(details)
        given = ""
        for key, value in details.invocation_metadata or ():
            if key == TOKEN_METADATA and isinstance(value, str):
                given = value
        if hmac.compare_digest(given.encode(), self._token):
            return await continuation(details)
        log.warning(
            "refused a %s call: %s", details.method.rsplit("/", 1)[-1], "missing token" if not given else "wrong token"
        )
        return _refusal(details.method)


def _refusal(method: str) -> grpc.RpcMethodHandler[Any, Any]:
    async def deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, TOKEN_REFUSAL)

    if method.endswith("/Connect"):
        return grpc.stream_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


def register(servicer: ControllerServicer, server: grpc.aio.Server) -> None:
    """Serve ``servicer`` on ``server``: ``Connect`` with raw bytes (the switchboard parses and
    serializes batches itself, so forwarded payloads are not copied), ``GetCatalog`` and ``Inspect`` as generated."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Connect": grpc.stream_stream_rpc_method_handler(servicer.Connect),
        "GetCatalog": grpc.unary_unary_rpc_method_handler(
            servicer.GetCatalog,
            request_deserializer=pb.CatalogRequest.FromString,
            response_serializer=pb.Catalog.SerializeToString,
        ),
        "Inspect": grpc.unary_unary_rpc_method_handler(
            servicer.Inspect,
            request_deserializer=pb.InspectRequest.FromString,
            response_serializer=pb.Inspection.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


class GrpcFront:
    """Serves ``Connect``, ``GetCatalog``, ``Inspect`` and ``grpc.health.v1`` on a gRPC server."""

    def __init__(self, config: ServerConfig, board: Switchboard) -> None:
        self._config = config
        self.servicer = ControllerServicer(config.hello_timeout, board)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int | None:
        owner = self._config
        address = owner.address
        if address.unix_path is None:
            for probe in bind(address):  # fail early, with the system's reason, when the port is unusable
                probe.close()
        interceptors = [TokenCheck(owner.token)] if owner.token else []
        server = grpc.aio.server(options=server_options(owner.keepalive), interceptors=interceptors)
        register(self.servicer, server)
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        try:
            if owner.tls is not None:
                port = server.add_secure_port(address.target, server_credentials(owner.tls))
            else:
                port = server.add_insecure_port(address.target)
        except RuntimeError as exc:
            raise InitializationError(f"cannot listen on {address}: {_bind_reason(address)}") from exc
        if port == 0 and address.unix_path is None:
            raise InitializationError(f"cannot listen on {address}: {_bind_reason(address)}")
        await server.start()
        for service in ("", "daffi.v1.Controller"):
            await health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        return None if address.unix_path is not None else port

    async def stop(self, grace: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            self.servicer.close()
            await server.stop(grace)


def _address(peer: str) -> str:
    """gRPC's ``ipv4:127.0.0.1:5000`` / ``ipv6:[::1]:5000`` as ``host:port``; ``unix:...`` as is."""
    kind, _, rest = peer.partition(":")
    return rest if kind in ("ipv4", "ipv6") else peer


def _bind_reason(address: Address) -> str:
    if address.unix_path is not None:
        return "the path is not usable (check the directory and its permissions)"
    return "the port is already in use or the host is not an address of this machine"
