"""What a NATS node keeps in place of the controller: the other nodes, and the calls between them.

With no controller, each node's link (``_nats_link``) routes its own calls: ``Directory`` is its
view of the other nodes and their callbacks (``daffi_core.offers``, as the controller's
registry), ``Calls`` the calls it made that others still owe a final REPLY and the calls it
serves for others, so that a node that vanishes fails the first (REMOTE_STOPPED) and cancels
the second. Both live on the node's loop; no locks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from daffi_core.offers import Offers
from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Calls", "Directory", "Known"]

_clock = time.monotonic


@dataclass(eq=False)
class Known:
    """Another node: its callbacks and when anything was last heard from it."""

    name: str
    callbacks: dict[str, pb.CallbackSignature] = field(default_factory=dict)
    seen: float = field(default_factory=_clock)


class Directory(Offers[Known]):
    """The other nodes by name and who offers which callback (``daffi_core.offers``), with when
    each was last heard from."""

    def update(self, name: str, callbacks: Iterable[pb.CallbackSignature]) -> bool:
        """``name`` offers ``callbacks`` now; True when it was not known before."""
        known = self.nodes.get(name)
        if known is None:
            self.add(Known(name), callbacks)
            return True
        self.set_callbacks(known, callbacks)
        known.seen = _clock()
        return False

    def forget(self, name: str) -> bool:
        """Forget ``name``; False when it was not known."""
        known = self.nodes.get(name)
        return known is not None and self.remove(known)

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
