"""The controller's work, whatever carries the frames: handshakes, the registry, routing.

A transport front (``grpc_service``, ``socket_service``) hands the switchboard the serialized
``Batch`` messages a node's connection delivers and a ``Sink`` that takes the node's outgoing
frames; the switchboard never sees a gRPC object or a socket.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from daffi_core import framing
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import PROTOCOL_VERSION
from google.protobuf.message import DecodeError

from daffi_controller.__about__ import __version__
from daffi_controller.registry import Peer, Registry
from daffi_controller.router import Router
from daffi_controller.stats import Stats

__all__ = ["Refusal", "Switchboard", "no_hello"]

log = logging.getLogger("daffi.controller")
#: Batches larger than this are forwarded as views of their bytes (see ``Switchboard.receive``).
VIEWS_FROM = 16 * 1024


@dataclass(frozen=True)
class Refusal:
    """A Hello the controller refuses: the ``Reject`` to answer with."""

    reason: pb.Reject.Reason.ValueType
    message: str

    def batch(self) -> bytes:
        """The serialized ``Batch`` carrying the ``Reject``."""
        reject = pb.Frame(reject=pb.Reject(reason=self.reason, message=self.message))
        return framing.batch([framing.frame(reject)])


def no_hello(timeout: float) -> Refusal:
    return Refusal(pb.Reject.BAD_HELLO, f"no Hello within {timeout:g} s")


class Switchboard:
    """Handshakes nodes, keeps the registry current and hands call traffic to the router."""

    def __init__(self, transport: str = "") -> None:
        self.transport = transport
        self.started_at = time.time()
        self.stats = Stats()
        self.registry = Registry()
        self.router = Router(self.registry, self.stats)

    # -- handshake
    def hello(self, raw: bytes | None) -> pb.Hello | Refusal:
        """The Hello of a connection's first message, or why it is refused (logged)."""
        answer = self._check(raw)
        return self.refused(answer) if isinstance(answer, Refusal) else answer

    @staticmethod
    def refused(refusal: Refusal) -> Refusal:
        """``refusal``, logged."""
        log.warning("refused a node: %s", refusal.message)
        return refusal

    def _check(self, raw: bytes | None) -> pb.Hello | Refusal:
        try:
            first = pb.Batch.FromString(raw) if raw is not None else None
        except DecodeError as exc:
            return Refusal(pb.Reject.BAD_HELLO, f"the first message is not a daffi Batch: {exc}")
        if first is None or not first.frames or not first.frames[0].HasField("hello"):
            return Refusal(pb.Reject.BAD_HELLO, "the first frame of a stream must be Hello")
        hello = first.frames[0].hello
        if hello.protocol_version != PROTOCOL_VERSION:
            return Refusal(
                pb.Reject.PROTOCOL_MISMATCH,
                f"node {hello.process_name!r} speaks daffi protocol {hello.protocol_version} but this controller "
                f"(daffi-controller {__version__}) speaks protocol {PROTOCOL_VERSION}: "
                "install the same daffi version on nodes and controller",
            )
        if not hello.process_name:
            return Refusal(pb.Reject.BAD_HELLO, "Hello has an empty process_name")
        if hello.process_name in self.registry.nodes:
            return Refusal(
                pb.Reject.DUPLICATE_NAME,
                f"a node named {hello.process_name!r} is already connected: give each process a unique process_name",
            )
        return hello

    def join(self, peer: Peer, hello: pb.Hello) -> None:
        """Welcome ``peer`` (its first outgoing frame) and tell the other nodes."""
        others = [p.info() for p in self.registry.nodes.values()]
        self.registry.add(peer, hello.callbacks)
        peer.send(
            pb.Frame(
                welcome=pb.Welcome(protocol_version=PROTOCOL_VERSION, controller_version=__version__, nodes=others)
            )
        )
        self._announce(peer)
        log.info("node %r joined with %d callback(s)", peer.name, len(peer.callbacks))

    def leave(self, peer: Peer, reason: str) -> None:
        """``peer``'s connection ended: fail what it owed, cancel what it asked, tell the others."""
        if self.registry.nodes.get(peer.name) is not peer:
            return
        self.registry.remove(peer)
        self.router.drop_node(peer.name)
        self.stats.bytes_in_gone += peer.received
        self.stats.bytes_out_gone += peer.sent
        frame = pb.Frame(node_left=pb.NodeLeft(process_name=peer.name, reason=reason))
        for other in self.registry.nodes.values():
            other.send(frame)
        log.info("node %r left: %s", peer.name, reason)

    def close(self) -> None:
        """The controller is stopping: every node leaves next (see ``Router.drop_node``)."""
        self.router.closing = True

    # -- traffic
    def receive(self, peer: Peer, raw: bytes | bytearray) -> list[Peer]:
        """Dispatch one serialized ``Batch`` from ``peer``; the receivers it fed that are now behind.

        Raises DecodeError for bytes that are not a ``Batch`` (the front ends that connection).
        """
        if self.registry.nodes.get(peer.name) is not peer:
            return []  # it has left: nothing it still sends is dispatched
        peer.received += len(raw)
        batch = pb.Batch.FromString(raw)  # type: ignore[arg-type]  # protobuf parses any buffer
        frames = batch.frames
        # Views of each message's bytes spare copying payloads; a small batch is re-encoded by protobuf
        # (in C) for less than finding them costs in Python.
        views = framing.message_views(raw) if len(raw) > VIEWS_FROM else None
        if views is None or len(views) != len(frames):
            views = [None] * len(frames)
        for frame, view in zip(frames, views, strict=True):
            body = frame.WhichOneof("body")
            if body == "message":
                self.router.handle(peer, frame.message, view)
            elif body == "callbacks":
                self.registry.set_callbacks(peer, frame.callbacks.callbacks)
                self._announce(peer)
            else:
                log.warning("node %r sent an unexpected %s frame; ignored", peer.name, body)
        if not self.router.congested:
            return []
        congested, self.router.congested = self.router.congested, set()
        behind = [receiver for receiver in congested if receiver is not peer]
        if behind:
            self.stats.pauses += 1  # the front stops reading ``peer`` until they have drained
        return behind

    def _announce(self, peer: Peer) -> None:
        frame = pb.Frame(node_joined=peer.info())
        for other in self.registry.nodes.values():
            if other is not peer:
                other.send(frame)

    # -- for tools
    def catalog(self) -> pb.Catalog:
        return self.registry.catalog()

    @property
    def bytes_in(self) -> int:
        return self.stats.bytes_in_gone + sum(p.received for p in self.registry.nodes.values())

    @property
    def bytes_out(self) -> int:
        return self.stats.bytes_out_gone + sum(p.sent for p in self.registry.nodes.values())

    def inspection(self) -> pb.Inspection:
        """What is connected and in flight now, and the counters (``daffi-controller inspect``)."""
        serving = self.router.in_flight()
        nodes = [
            pb.InspectedNode(
                process_name=p.name,
                address=p.address,
                connected_since=p.since,
                callbacks=p.callbacks.values(),
                in_flight=serving.get(p.name, {}),
            )
            for p in sorted(self.registry.nodes.values(), key=lambda p: p.name)
        ]
        return pb.Inspection(
            controller_version=__version__,
            transport=self.transport,
            started_at=self.started_at,
            nodes=nodes,
            calls=self.stats.counts(),
            calls_in_flight=self.router.open_calls,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            flow_control_pauses=self.stats.pauses,
        )

    def health(self) -> pb.Health:
        return pb.Health(
            serving=True,
            controller_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            nodes=len(self.registry.nodes),
        )
