"""Where a call goes: the routing rules of daffi, and the texts of the errors when it goes nowhere.

The controller's router applies them to its registry; a NATS node's link, with no controller,
applies them itself to its view of the others. Both see the same rules and the same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from daffi_core.offers import Offerer, Offers
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.suggest import callback_hint

__all__ = ["Refused", "targets"]

N = TypeVar("N", bound=Offerer)


@dataclass(frozen=True)
class Refused:
    """A call that goes nowhere: the error its caller gets instead (a ``GlobalContextError``)."""

    kind: pb.Error.Kind.ValueType
    message: str


def targets(offers: Offers[N], head: pb.CallHead, caller: str, own: Callable[[], Collection[str]]) -> list[N] | Refused:
    """The nodes the call of ``head`` goes to, never ``caller`` (``own()``: its callbacks, asked
    only for an error's text).

    ``target`` (or a SYSTEM operation) pins one node; fanout ALL is every other node offering the
    name; fanout ONE is the next of them in ``offers``' round-robin.
    """
    if head.target or head.action == pb.CallHead.SYSTEM:
        target = offers.nodes.get(head.target)
        if target is None or head.target == caller:
            why = "a call never goes back to the caller" if head.target == caller else "it is not connected"
            others = ", ".join(sorted(n for n in offers.nodes if n != caller)) or "none"
            return Refused(pb.Error.NO_SUCH_NODE, f"cannot call node {head.target!r}: {why} (other nodes: {others})")
        if head.action != pb.CallHead.SYSTEM and head.name not in target.callbacks:
            hint = callback_hint(head.name, target.callbacks, wait=False)  # its own names only
            return Refused(
                pb.Error.UNKNOWN_CALLBACK,
                f"node {head.target!r} has no callback {head.name!r}{'; ' + hint if hint else ''}; "
                "callbacks of other nodes:\n" + offers.describe_offers(caller),
            )
        return [target]
    if head.fanout == pb.CallHead.ALL:
        found = offers.offering(head.name, caller)
    else:
        one = offers.pick(head.name, caller)
        found = [one] if one is not None else []
    if found:
        return found
    only_self = (
        " (only the calling node offers it, and a call never goes back to the caller)" if head.name in own() else ""
    )
    offered = (name for node in offers.nodes.values() if node.name != caller for name in node.callbacks)
    return Refused(
        pb.Error.UNKNOWN_CALLBACK,
        f"no node offers callback {head.name!r}{only_self}; {callback_hint(head.name, offered)}; "
        "callbacks of other nodes:\n" + offers.describe_offers(caller),
    )
