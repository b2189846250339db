"""What a NATS node keeps in place of the controller: the other nodes, and the calls between them.

With no controller, each node's link (``_nats_link``) routes its own calls: ``Directory`` is its
view of the other nodes and their callbacks (round-robin per callback name, as the controller's
registry), ``Calls`` the calls it made that others still owe a final REPLY and the calls it
serves for others, so that a node that vanishes fails the first (REMOTE_STOPPED) and cancels
the second. Both live on the node's loop; no locks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Calls", "Directory", "Known"]

_clock = time.monotonic


@dataclass(eq=False)
class Known:
    """Another node: its callbacks and when anything was last heard from it."""

    name: str
    callbacks: dict[str, pb.CallbackSignature] = field(default_factory=dict)
    seen: float = field(default_factory=_clock)

    def info(self) -> pb.NodeInfo:
        return pb.NodeInfo(process_name=self.name, callbacks=self.callbacks.values())


class Directory:
    """The other nodes by name and, per callback name, who offers it (in the order they came)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Known] = {}
        self._offers: dict[str, list[str]] = {}
        self._turn: dict[str, int] = {}

    def update(self, name: str, callbacks: Iterable[pb.CallbackSignature]) -> bool:
        """``name`` offers ``callbacks`` now; True when it was not known before."""
        known = self.nodes.get(name)
        new = known is None
        if known is None:
            known = self.nodes[name] = Known(name)
        self._withdraw(known)
        known.callbacks = {c.name: c for c in callbacks}
        known.seen = _clock()
        for callback in known.callbacks:
            self._offers.setdefault(callback, []).append(name)
        return new

    def remove(self, name: str) -> bool:
        """Forget ``name``; False when it was not known."""
        known = self.nodes.pop(name, None)
        if known is None:
            return False
        self._withdraw(known)
        return True

    def _withdraw(self, known: Known) -> None:
        for callback in known.callbacks:
            offers = self._offers.get(callback, [])
            if known.name in offers:
                offers.remove(known.name)
            if not offers:
                self._offers.pop(callback, None)
                self._turn.pop(callback, None)

    def seen(self, name: str) -> bool:
        """Something was heard from ``name`` now; False when it is not known."""
        known = self.nodes.get(name)
        if known is None:
            return False
        known.seen = _clock()
        return True

    def silent(self, for_seconds: float) -> list[str]:
        """The nodes heard nothing from for longer than ``for_seconds``."""
        limit = _clock() - for_seconds
        return [k.name for k in self.nodes.values() if k.seen < limit]

    def pick(self, callback: str) -> str | None:
        """The next node offering ``callback`` (round-robin), or None."""
        offers = self._offers.get(callback)
        if not offers:
            return None
        index = self._turn.get(callback, 0) % len(offers)
        self._turn[callback] = index + 1
        return offers[index]

    def offering(self, callback: str) -> list[str]:
        return list(self._offers.get(callback, ()))

    def infos(self) -> list[pb.NodeInfo]:
        return [k.info() for k in sorted(self.nodes.values(), key=lambda k: k.name)]

    def describe_offers(self) -> str:
        """What the other nodes offer, one process per line, for error messages (as the controller's)."""
        lines = [
            f"process: {k.name}\n  - [ {', '.join(sorted(k.callbacks)) or '(none)'} ]"
            for k in sorted(self.nodes.values(), key=lambda k: k.name)
        ]
        return "\n".join(lines) if lines else "(no other node is connected)"


class Calls:
    """Open calls through this node's link: those it made (who still owes a final REPLY), those it serves."""

    def __init__(self) -> None:
        #: call id -> the nodes that still owe this node's call its final REPLY
        self.made: dict[int, set[str]] = {}
        #: caller -> the ids of its calls this node serves
        self.served: dict[str, set[int]] = {}

    def opened(self, call_id: int, targets: Iterable[str]) -> None:
        self.made[call_id] = set(targets)

    def targets(self, call_id: int) -> set[str]:
        return self.made.get(call_id, set())

    def replied(self, call_id: int, callee: str) -> None:
        """``callee`` sent its final REPLY to the call ``call_id``."""
        owed = self.made.get(call_id)
        if owed is not None:
            owed.discard(callee)
            if not owed:
                del self.made[call_id]

    def serving(self, caller: str, call_id: int) -> None:
        self.served.setdefault(caller, set()).add(call_id)

    def served_done(self, caller: str, call_id: int) -> None:
        ids = self.served.get(caller)
        if ids is not None:
            ids.discard(call_id)
            if not ids:
                del self.served[caller]

    def gone(self, name: str) -> tuple[list[int], list[int]]:
        """``name`` vanished: the ids of this node's calls it owed, and of its calls this node served."""
        owed = [call_id for call_id, targets in self.made.items() if name in targets]
        for call_id in owed:
            self.replied(call_id, name)
        return owed, sorted(self.served.pop(name, ()))

    def clear(self) -> None:
        self.made.clear()
        self.served.clear()
