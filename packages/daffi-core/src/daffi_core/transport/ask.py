"""One request, one reply: the controller's unary methods (catalog, inspection) for tools, on either transport.

``ask`` connects, sends the request, reads the reply and hangs up. It raises ``ConnectionRefused``
when retrying cannot help (a wrong token, TLS trouble, the other transport at that address) and
``TransportError`` otherwise (nobody listens yet, no answer in time), so a tool can poll a
controller that is still starting and stop at once on a refusal.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError, Message

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, ProtocolViolation, TransportError
from daffi_core.security import ClientSecurity
from daffi_core.transport import GRPC, SOCKET, mismatch, resolve_transport

__all__ = ["ask"]

Reply = TypeVar("Reply", bound=Message)


def ask(
    address: Address,
    method: str,
    request: Message,
    reply_type: type[Reply],
    security: ClientSecurity | None = None,
    timeout: float = 5.0,
    transport: str | None = None,
    who: str = "this tool",
) -> Reply:
    """The controller's reply of type ``reply_type`` to ``request`` on ``method`` (a gRPC method path,
    e.g. ``daffi_core.protocol.CATALOG_METHOD``), within ``timeout`` seconds.

    ``transport`` is ``"grpc"``, ``"socket"`` or ``"auto"``; None reads ``$DAFFI_TRANSPORT``
    (``daffi_core.transport.resolve_transport``). ``who`` names the caller in a transport-mismatch
    message. Blocking: do not call it from a running event loop.
    """
    question = _Question(address, method, request, reply_type, security or ClientSecurity(), timeout, who)
    if resolve_transport(transport, address) == SOCKET:
        return _socket(question)
    return asyncio.run(_grpc(question))


@dataclass(frozen=True)
class _Question(Generic[Reply]):
    """What ``ask`` asks, for either transport."""

    address: Address
    method: str
    request: Message
    reply_type: type[Reply]
    security: ClientSecurity
    timeout: float
    who: str


def _socket(q: _Question[Reply]) -> Reply:
    from daffi_core.transport.socket.client import open_connection

    body = q.request.SerializeToString()
    # The request rides along with ``Open`` (one round trip); an empty one is not sent at all, as
    # the controller answers its request-less methods as soon as the connection is open.
    conn = open_connection(q.address, q.method, q.security, q.timeout, who=q.who, first=[body] if body else ())
    try:
        raw = bytes(conn.receive_one(q.timeout))
    finally:
        conn.dispose()
    try:
        return q.reply_type.FromString(raw)
    except DecodeError:
        raise ProtocolViolation(f"the controller at {q.address} answered {q.method} with a malformed reply") from None


async def _grpc(q: _Question[Reply]) -> Reply:
    import grpc

    from daffi_core.transport.grpc import channel, client_options
    from daffi_core.transport.sniff import speaker

    async with channel(q.address.target, q.security, client_options()) as chan:
        call = chan.unary_unary(
            q.method,
            request_serializer=type(q.request).SerializeToString,
            response_deserializer=q.reply_type.FromString,
        )
        try:
            reply: Reply = await call(q.request, timeout=q.timeout, metadata=q.security.metadata)
        except grpc.aio.AioRpcError as exc:
            where = f"the controller at {q.address}"
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise ConnectionRefused(f"{where} refused: {exc.details()}") from None
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise ConnectionRefused(f"{where} does not serve {q.method} (an older version?)") from None
            # gRPC cannot tell "nobody listens" from "a server of another transport listens": ask it.
            theirs = speaker(q.address, q.security, 1.0) if exc.code() == grpc.StatusCode.UNAVAILABLE else None
            if theirs is not None and theirs != GRPC:
                raise ConnectionRefused(mismatch(q.address, GRPC, theirs, q.who)) from None
            raise TransportError(f"{exc.code().name}: {exc.details()}" if exc.details() else exc.code().name) from None
        return reply
