"""Who offers which callback: the nodes by name and, per callback name, those offering it.

One model for both places that keep it: the controller's registry of connected nodes
(``daffi_controller.registry``) and a NATS node's view of the other nodes (``daffi._nats_peers``),
each over its own node records. ``daffi_core.routing`` reads it to decide where a call goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Offerer", "Offers"]


class Offerer(Protocol):
    """A node record: its process name and the callbacks it offers (kept by ``Offers``)."""

    name: str
    callbacks: dict[str, pb.CallbackSignature]


N = TypeVar("N", bound=Offerer)


class Offers(Generic[N]):
    """Nodes by name and, per callback name, the nodes offering it in the order they came.

    ``pick`` goes round-robin over them; every method takes ``exclude``, the calling node, which
    a call never goes back to.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, N] = {}
        self._offers: dict[str, list[str]] = {}
        self._turn: dict[str, int] = {}

    def add(self, node: N, callbacks: Iterable[pb.CallbackSignature]) -> None:
        """``node`` joined, offering ``callbacks``."""
        self.nodes[node.name] = node
        self.set_callbacks(node, callbacks)

    def remove(self, node: N) -> bool:
        """``node`` left; False when another record (or none) holds its name."""
        if self.nodes.get(node.name) is not node:
            return False
        self.set_callbacks(node, ())
        del self.nodes[node.name]
        return True

    def set_callbacks(self, node: N, callbacks: Iterable[pb.CallbackSignature]) -> None:
        """``node`` offers ``callbacks`` now, in place of what it offered before."""
        for name in node.callbacks:
            offers = self._offers.get(name, [])
            if node.name in offers:
                offers.remove(node.name)
            if not offers:
                self._offers.pop(name, None)
                self._turn.pop(name, None)
        node.callbacks = {c.name: c for c in callbacks}
        for name in node.callbacks:
            self._offers.setdefault(name, []).append(node.name)

    def pick(self, callback: str, exclude: str = "") -> N | None:
        """The next node offering ``callback`` other than ``exclude`` (round-robin), or None."""
        offers = self._offers.get(callback)
        if not offers:
            return None
        start = self._turn.get(callback, 0)
        for step in range(len(offers)):
            index = (start + step) % len(offers)
            if offers[index] != exclude:
                self._turn[callback] = index + 1
                return self.nodes[offers[index]]
        return None

    def offering(self, callback: str, exclude: str = "") -> list[N]:
        """Every node offering ``callback`` but ``exclude``, in the order they came."""
        return [self.nodes[n] for n in self._offers.get(callback, ()) if n != exclude]

    def infos(self) -> list[pb.NodeInfo]:
        """Each node and its callbacks, by name."""
        return [
            pb.NodeInfo(process_name=node.name, callbacks=node.callbacks.values())
            for node in sorted(self.nodes.values(), key=lambda n: n.name)
        ]

    def describe_offers(self, exclude: str = "") -> str:
        """What the nodes but ``exclude`` offer, one process per line, for error messages."""
        lines = [
            f"process: {node.name}\n  - [ {', '.join(sorted(node.callbacks)) or '(none)'} ]"
            for node in sorted(self.nodes.values(), key=lambda n: n.name)
            if node.name != exclude
        ]
        return "\n".join(lines) if lines else "(no other node is connected)"
