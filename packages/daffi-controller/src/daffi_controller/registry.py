"""Connected nodes and the callbacks each announced."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from daffi_core import framing
from daffi_core.framing import Encoded
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


class Registry:
    """Nodes by name and, per callback name, the nodes offering it in join order."""

    def __init__(self) -> None:
        self.nodes: dict[str, Peer] = {}
        self._offers: dict[str, list[str]] = {}
        self._turn: dict[str, int] = {}

    def add(self, peer: Peer, callbacks: Iterable[pb.CallbackSignature]) -> None:
        self.nodes[peer.name] = peer
        self.set_callbacks(peer, callbacks)

    def remove(self, peer: Peer) -> None:
        if self.nodes.get(peer.name) is peer:
            self.set_callbacks(peer, ())
            del self.nodes[peer.name]

    def set_callbacks(self, peer: Peer, callbacks: Iterable[pb.CallbackSignature]) -> None:
        for name in peer.callbacks:
            offers = self._offers.get(name, [])
            if peer.name in offers:
                offers.remove(peer.name)
            if not offers:
                self._offers.pop(name, None)
                self._turn.pop(name, None)
        peer.callbacks = {c.name: c for c in callbacks}
        for name in peer.callbacks:
            self._offers.setdefault(name, []).append(peer.name)

    def pick(self, name: str, exclude: str) -> Peer | None:
        """The next node offering ``name`` other than ``exclude`` (round-robin)."""
        offers = self._offers.get(name)
        if not offers:
            return None
        start = self._turn.get(name, 0)
        for step in range(len(offers)):
            index = (start + step) % len(offers)
            if offers[index] != exclude:
                self._turn[name] = index + 1
                return self.nodes[offers[index]]
        return None

    def offering(self, name: str, exclude: str) -> list[Peer]:
        return [self.nodes[n] for n in self._offers.get(name, ()) if n != exclude]

    def describe_offers(self, exclude: str) -> str:
        """What other nodes offer, one process per line, for error messages."""
        lines = [
            f"process: {peer.name}\n  - [ {', '.join(sorted(peer.callbacks)) or '(none)'} ]"
            for peer in sorted(self.nodes.values(), key=lambda p: p.name)
            if peer.name != exclude
        ]
        return "\n".join(lines) if lines else "(no other node is connected)"

    def catalog(self) -> pb.Catalog:
        return pb.Catalog(nodes=[p.info() for p in sorted(self.nodes.values(), key=lambda p: p.name)])
