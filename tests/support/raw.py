"""Speaking the controller's wire directly, on either transport, for tests of the controller itself.

``connect(where)`` opens a ``Connect`` stream the way ``where`` says (gRPC with the generated
method path, or the socket transport with greeting, ``Open`` and length-prefixed frames written
here by hand, so the controller's parser is tested against bytes, not against the node's code).
Both kinds are blocking and bounded: every read has a timeout, every stream a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
from daffi_core.address import Address
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CATALOG_METHOD, CONNECT_METHOD, HEALTH_METHOD, PROTOCOL_VERSION
from daffi_core.security import TOKEN_METADATA
from daffi_core.transport import Code
from daffi_core.transport.socket.wire import MAGIC, FrameReader, Kind, frame
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.procs import Where

#: No raw stream lives longer than this, no step waits longer.
DEADLINE = 60.0
_END: Any = object()


class Ended(Exception):
    """The controller ended the stream with an error status."""

    def __init__(self, code: Code, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def hello(name: str = "raw", version: int = PROTOCOL_VERSION, callbacks: Sequence[str] = ()) -> pb.Batch:
    signatures = [pb.CallbackSignature(name=c) for c in callbacks]
    return pb.Batch(
        frames=[pb.Frame(hello=pb.Hello(protocol_version=version, process_name=name, callbacks=signatures))]
    )


def address(where: Where) -> Address:
    return Address.resolve(where.host, where.port, where.unix_sock_path)


class Stream:
    """One raw ``Connect`` stream: send batches (or any bytes), read what the controller answers."""

    def send(self, batch: pb.Batch | bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float = 10.0) -> pb.Batch | None:
        """The next batch; None when the controller ended the stream normally; Ended on an error status."""
        raise NotImplementedError

    def half_close(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def finish(self, timeout: float = 10.0) -> list[pb.Batch]:
        """Half-close, then everything the controller answers until it ends the stream."""
        self.half_close()
        answers: list[pb.Batch] = []
        deadline = time.monotonic() + timeout
        while (batch := self.read(max(0.01, deadline - time.monotonic()))) is not None:
            answers.append(batch)
        return answers

    def messages(self, count: int, timeout: float = 30.0) -> list[pb.Message]:
        """The next ``count`` message frames (other frames skipped)."""
        found: list[pb.Message] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            batch = self.read(max(0.01, deadline - time.monotonic()))
            assert batch is not None, f"the stream ended after {len(found)} of {count} messages"
            found += [f.message for f in batch.frames if f.HasField("message")]
        return found


class GrpcStream(Stream):
    """On grpc.aio in a thread of its own: a write returns once gRPC took the message (flow control
    holds a sender back there; the blocking API's writes complete before that)."""

    def __init__(self, where: Where, token: str | None, options: Sequence[tuple[str, Any]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call: Any = None
        self._ended: Any = None
        self._run(self._open(address(where).target, token, list(options)))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(DEADLINE)

    async def _open(self, target: str, token: str | None, options: list[tuple[str, Any]]) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=options)
        method: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = self._channel.stream_stream(
            CONNECT_METHOD, request_serializer=None, response_deserializer=None
        )
        self._call = method(timeout=DEADLINE, metadata=[(TOKEN_METADATA, token)] if token else None)

    def send(self, batch: pb.Batch | bytes) -> None:
        self._run(self._call.write(batch if isinstance(batch, bytes) else batch.SerializeToString()))

    def read(self, timeout: float = 10.0) -> pb.Batch | None:
        # Read only when asked: a stream nobody reads is a receiver that falls behind.
        if self._ended is None:
            try:
                data = self._run(asyncio.wait_for(self._call.read(), timeout))
            except asyncio.TimeoutError:
                raise AssertionError(f"the controller answered nothing within {timeout} s") from None
            except grpc.RpcError as exc:
                self._ended = exc
            else:
                if data is not grpc.aio.EOF:
                    return pb.Batch.FromString(data)
                self._ended = _END
        if isinstance(self._ended, grpc.RpcError):
            code = self._ended.code()
            raise Ended(Code(code.value[0]), self._ended.details() or "")
        return None

    def half_close(self) -> None:
        with contextlib.suppress(grpc.RpcError, asyncio.InvalidStateError):
            self._run(self._call.done_writing())

    def close(self) -> None:
        async def end() -> None:
            self._call.cancel()
            await self._channel.close()

        try:
            self._run(end())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


class SocketStream(Stream):
    def __init__(self, where: Where, token: str | None, method: str = CONNECT_METHOD) -> None:
        target = address(where)
        family = socket.AF_UNIX if target.unix_path is not None else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(str(target.unix_path) if target.unix_path is not None else (target.host, target.port))
        self.sock.sendall(MAGIC + frame(Kind.OPEN, pb.Open(method=method, token=token or "").SerializeToString()))
        self._reader = FrameReader()
        self._frames: list[tuple[Kind, bytes | bytearray]] = []
        self._ended: pb.Status | None = None

    def send(self, batch: pb.Batch | bytes) -> None:
        self.sock.sendall(frame(Kind.DATA, batch if isinstance(batch, bytes) else batch.SerializeToString()))

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are (a hand-made header, a truncated frame)."""
        self.sock.sendall(data)

    def read_body(self, timeout: float = 10.0) -> bytes | None:
        """The next DATA frame's body; None at a normal end; Ended on an error status."""
        deadline = time.monotonic() + timeout
        while True:
            while self._frames:
                kind, body = self._frames.pop(0)
                if kind == Kind.DATA:
                    return bytes(body)
                if kind == Kind.PING:
                    self.sock.sendall(frame(Kind.PONG))
                elif kind == Kind.CLOSE:
                    self._ended = pb.Status.FromString(bytes(body))
            if self._ended is not None:
                if self._ended.code != Code.OK:
                    raise Ended(Code(self._ended.code), self._ended.message)
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the controller answered nothing within {timeout} s")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""
            if not data:
                self._ended = self._ended or pb.Status(code=Code.UNAVAILABLE, message="connection closed")
                continue
            self._frames += self._reader.feed_bytes(data)

    def read(self, timeout: float = 10.0) -> pb.Batch | None:
        body = self.read_body(timeout)
        return None if body is None else pb.Batch.FromString(body)

    def half_close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def connect(where: Where, token: str | None = None, options: Sequence[tuple[str, Any]] = ()) -> Iterator[Stream]:
    """A raw ``Connect`` stream on ``where``'s transport (``options``: gRPC channel options)."""
    stream: Stream = SocketStream(where, token) if where.transport == "socket" else GrpcStream(where, token, options)
    try:
        yield stream
    finally:
        stream.close()


@contextlib.contextmanager
def joined(where: Where, name: str, callbacks: Sequence[str] = (), **options: Any) -> Iterator[Stream]:
    """A raw stream whose Hello was welcomed."""
    with connect(where, **options) as stream:
        stream.send(hello(name, callbacks=callbacks))
        first = stream.read()
        assert first is not None and first.frames[0].HasField("welcome"), first
        yield stream


def exchange(where: Where, *batches: pb.Batch | bytes) -> list[pb.Batch]:
    """Send ``batches``, half-close; everything the controller answers before it ends the stream."""
    with connect(where) as stream:
        for batch in batches:
            stream.send(batch)
        return stream.finish()


def catalog(where: Where, token: str | None = None) -> pb.Catalog:
    """The controller's catalog (``GetCatalog``)."""
    if where.transport == "socket":
        stream = SocketStream(where, token, CATALOG_METHOD)
        try:
            body = stream.read_body()
            assert body is not None, "the catalog request ended without an answer"
            return pb.Catalog.FromString(body)
        finally:
            stream.close()
    with grpc.insecure_channel(address(where).target) as channel:
        method = channel.unary_unary(CATALOG_METHOD, pb.CatalogRequest.SerializeToString, pb.Catalog.FromString)
        metadata = ((TOKEN_METADATA, token),) if token else None
        return method(pb.CatalogRequest(), timeout=10, metadata=metadata)


def serving(where: Where) -> bool:
    """What the controller answers the health question (no token needed)."""
    if where.transport == "socket":
        stream = SocketStream(where, None, HEALTH_METHOD)
        try:
            body = stream.read_body()
            return body is not None and pb.Health.FromString(body).serving
        finally:
            stream.close()
    with grpc.insecure_channel(address(where).target) as channel:
        request = health_pb2.HealthCheckRequest(service="daffi.v1.Controller")
        # types-grpcio-health-checking declares no methods on HealthStub (grpc sets them in __init__)
        reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=5)  # type: ignore[attr-defined]
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
