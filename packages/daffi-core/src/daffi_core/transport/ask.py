"""One request, one reply: the controller's unary methods (catalog, inspection) for tools, on either transport.

``ask`` connects, sends the request, reads the reply and hangs up. It raises ``ConnectionRefused``
when retrying cannot help (a wrong token, TLS trouble, the other transport at that address) and
``TransportError`` otherwise (nobody listens yet, no answer in time), so a tool can poll a
controller that is still starting and stop at once on a refusal.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, ProtocolViolation, TransportError
from daffi_core.security import ClientSecurity
from daffi_core.transport import GRPC, SOCKET, mismatch, resolve_transport

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
    security = security or ClientSecurity()
    if resolve_transport(transport, address) == SOCKET:
        return _socket(address, method, request, reply_type, security, timeout, who)
    return asyncio.run(_grpc(address, method, request, reply_type, security, timeout, who))


def _socket(
    address: Address,
    method: str,
    request: Message,
    reply_type: type[Reply],
    security: ClientSecurity,
    timeout: float,
    who: str,
) -> Reply:
    from daffi_core.transport.socket.client import open_connection

    body = request.SerializeToString()
    # The request rides along with ``Open`` (one round trip); an empty one is not sent at all, as
    # the controller answers its request-less methods as soon as the connection is open.
    conn = open_connection(address, method, security, timeout, who=who, first=[body] if body else ())
    try:
        raw = bytes(conn.receive_one(timeout))
    finally:
        conn.dispose()
    try:
        return reply_type.FromString(raw)
    except DecodeError:
        raise ProtocolViolation(f"the controller at {address} answered {method} with a malformed reply") from None


async def _grpc(
    address: Address,
    method: str,
    request: Message,
    reply_type: type[Reply],
    security: ClientSecurity,
    timeout: float,
    who: str,
) -> Reply:
    import grpc

    from daffi_core.transport.grpc import channel, client_options
    from daffi_core.transport.socket.client import probe

    async with channel(address.target, security, client_options()) as chan:
        call = chan.unary_unary(
            method, request_serializer=type(request).SerializeToString, response_deserializer=reply_type.FromString
        )
        try:
            reply: Reply = await call(request, timeout=timeout, metadata=security.metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise ConnectionRefused(f"the controller at {address} refused: {exc.details()}") from None
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise ConnectionRefused(
                    f"the controller at {address} does not serve {method} (an older version?)"
                ) from None
            # gRPC cannot tell "nobody listens" from "a socket-transport controller listens": ask it.
            if exc.code() == grpc.StatusCode.UNAVAILABLE and probe(address, security, 1.0):
                raise ConnectionRefused(mismatch(address, GRPC, SOCKET, who)) from None
            raise TransportError(f"{exc.code().name}: {exc.details()}" if exc.details() else exc.code().name) from None
        return reply


__all__ = ["ask"]
