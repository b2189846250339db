"""Connected nodes, where their frames go and the callbacks each announced."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from daffi_core import framing
from daffi_core.framing import Encoded
from daffi_core.offers import Offers
from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Peer", "Registry", "Sink"]


class Sink(Protocol):
    """Where a node's outgoing frames go: its connection, whatever the transport.

    ``daffi_core.outbox.Outbox`` is the gRPC one (a writer task drains it);
    ``daffi_controller.socket_service.SocketSink`` writes to a socket-transport connection.
    """

    def put(self, frame: Encoded) -> None:
        """Queue a frame (on the controller's loop); it is written with the others queued now."""

    @property
    def congested(self) -> bool:
        """Too many bytes wait for the node: stop reading from whoever feeds it."""

    async def drained(self) -> None:
        """Wait until the node has caught up (or its connection ended)."""

    def close(self) -> None:
        """No more frames: what is queued is still written."""


@dataclass(eq=False)
class Peer:
    """One connected node: its name, where its frames go, its callbacks, and what it has exchanged."""

    name: str
    sink: Sink
    callbacks: dict[str, pb.CallbackSignature] = field(default_factory=dict)
    #: Where its connection comes from (``host:port``, or ``unix:`` and the socket path).
    address: str = ""
    since: float = field(default_factory=time.time)
    #: Bytes of frames queued for it, and of batches received from it.
    sent: int = 0
    received: int = 0

    def send(self, frame: pb.Frame | Encoded) -> None:
        """Queue a frame for the node: a protobuf one, or one already encoded (forwarded traffic)."""
        encoded = frame if isinstance(frame, Encoded) else framing.frame(frame)
        self.sent += encoded.size
        self.sink.put(encoded)

    def info(self) -> pb.NodeInfo:
        return pb.NodeInfo(process_name=self.name, callbacks=self.callbacks.values())


class Registry(Offers[Peer]):
    """The connected nodes by name and, per callback name, those offering it (``daffi_core.offers``)."""

    def catalog(self) -> pb.Catalog:
        """The live catalogue, as ``daffi-codegen`` and ``inspect`` read it."""
        return pb.Catalog(nodes=self.infos())
