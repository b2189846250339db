"""How frames travel between the nodes and the controller: the transports, and choosing one.

```text
daffi_core.transport
 ├── grpc       the gRPC bidirectional stream (grpcio): TCP or UNIX socket, TLS, HTTP/2 keepalive
 ├── socket     the same ``Batch`` messages, length-prefixed, over plain TCP or UNIX sockets
 │    ├── wire      the bytes: greeting, frame header, a parser that refuses hostile input
 │    ├── client    one blocking, thread-safe connection (nodes and tools), TLS in memory
 │    └── server    the asyncio side (the controller), on uvloop where it is installed
 ├── nats       nodes on a NATS server or cluster, no controller: subjects, chunking, nats-py
 ├── ask        one request, one reply to a controller (tools), on either controller transport
 └── sniff      which transport answers at an address, for the error when the sides differ
```

All carry the messages of ``proto/daffi.proto`` unchanged: a node, the controller and the
tools speak the same protocol whatever carries it. Nothing here imports ``grpc`` unless the
gRPC transport is used, nor ``nats`` unless the NATS transport is.
"""

from __future__ import annotations

import asyncio
import enum
import os
from typing import Final, Literal, TypeAlias

from daffi_core.address import Address
from daffi_core.errors import InitializationError

__all__ = [
    "AUTO",
    "CHOICES",
    "CONTROLLER_CHOICES",
    "GRPC",
    "NATS",
    "SOCKET",
    "TRANSPORT_ENV",
    "Code",
    "Transport",
    "controller_transport",
    "mismatch",
    "new_event_loop",
    "resolve_transport",
]

#: A transport that carries frames (what ``resolve_transport`` chooses).
Transport: TypeAlias = Literal["grpc", "socket", "nats"]
GRPC: Final = "grpc"
SOCKET: Final = "socket"
#: Nodes on a NATS server or cluster (``daffi_core.transport.nats``): no daffi controller runs.
NATS: Final = "nats"
AUTO: Final = "auto"
#: The values of ``transport=`` / ``--transport`` / ``$DAFFI_TRANSPORT``.
CHOICES = (AUTO, GRPC, SOCKET, NATS)
#: The transports a daffi controller serves (``nats`` has none).
CONTROLLER_CHOICES = (AUTO, GRPC, SOCKET)
#: Environment variable read when no transport is given explicitly.
TRANSPORT_ENV = "DAFFI_TRANSPORT"


class Code(enum.IntEnum):
    """Why a call or connection ended: gRPC's status code values, used by every transport."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    FAILED_PRECONDITION = 9
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


def resolve_transport(transport: str | None, address: Address) -> Transport:
    """``"grpc"``, ``"socket"`` or ``"nats"``: ``transport``, else ``$DAFFI_TRANSPORT``, else ``"auto"``.

    ``"auto"`` is the socket transport on a UNIX socket (where gRPC brings nothing: no TLS, no
    proxies) and gRPC on TCP; it never picks ``"nats"``, which has to be asked for. Raises
    InitializationError for any other value.
    """
    origin = "transport"
    if transport is None:
        transport = os.environ.get(TRANSPORT_ENV, "").strip() or AUTO
        origin = f"${TRANSPORT_ENV}"
    if not isinstance(transport, str) or transport.lower() not in CHOICES:
        raise InitializationError(f"{origin} must be one of {', '.join(repr(c) for c in CHOICES)}, not {transport!r}")
    transport = transport.lower()
    if transport == AUTO:
        return SOCKET if address.is_unix else GRPC
    return NATS if transport == NATS else SOCKET if transport == SOCKET else GRPC


def controller_transport(transport: str | None, address: Address) -> Transport:
    """``resolve_transport`` for a daffi controller (or a tool asking one): ``"nats"`` has none."""
    resolved = resolve_transport(transport, address)
    if resolved == NATS:
        raise InitializationError(
            "transport 'nats' runs no daffi controller: nodes meet on the NATS server itself "
            "(Global(transport='nats', host=..., port=...)); give a controller 'grpc', 'socket' or 'auto'"
        )
    return resolved


def mismatch(address: Address, ours: str, theirs: str, who: str = "this node") -> str:
    """The message of a connection between sides that speak different transports."""
    server = "NATS server" if theirs == NATS else "controller"
    return (
        f"the {server} at {address} speaks transport={theirs!r} but {who} uses transport={ours!r}: "
        f"give both sides the same transport (Global(transport=...), daffi-controller --transport, "
        f"daffi-codegen --transport, or ${TRANSPORT_ENV})"
    )


def new_event_loop(transport: str) -> asyncio.AbstractEventLoop:
    """The event loop a process of ``transport`` runs: uvloop for the socket transport where it is
    installed, the standard loop otherwise (grpc.aio does not run on uvloop)."""
    if transport == SOCKET:
        try:
            import uvloop
        except ImportError:  # not installable here (another interpreter, Windows): the standard loop works
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
