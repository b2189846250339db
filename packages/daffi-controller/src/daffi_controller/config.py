"""What a controller serves: its address, transport and the options every transport shares."""

from __future__ import annotations

from dataclasses import dataclass

from daffi_core.address import Address
from daffi_core.keepalive import DEFAULT_KEEPALIVE
from daffi_core.security import ServerTLS
from daffi_core.transport import GRPC

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """A controller's settings (``daffi-controller``'s options, or ``Global(init_controller=True)``'s)."""

    address: Address
    token: str | None = None
    tls: ServerTLS | None = None
    #: Seconds a new connection has to say Hello.
    hello_timeout: float = 10.0
    #: Seconds between the pings sent to each node (a node silent for 1.5 times that is dropped).
    keepalive: float = DEFAULT_KEEPALIVE
    #: ``"grpc"`` or ``"socket"``, already resolved (``daffi_core.transport.resolve_transport``).
    transport: str = GRPC
