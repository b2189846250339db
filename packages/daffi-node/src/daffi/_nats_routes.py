"""Where a NATS node's call goes: the controller router's rules, applied by the caller's own link.

A pure function of the caller's ``Directory``, so the rules (and the texts of their errors,
the controller's own) are tested without a server.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.suggest import callback_hint

from daffi._nats_peers import Directory

__all__ = ["Refused", "targets"]


@dataclass(frozen=True)
class Refused:
    """A call that goes nowhere: the error its caller gets instead (a ``GlobalContextError``)."""

    kind: pb.Error.Kind.ValueType
    message: str


def targets(
    directory: Directory, head: pb.CallHead, caller: str, own: Callable[[], Collection[str]]
) -> list[str] | Refused:
    """The nodes the call of ``head`` goes to, never ``caller`` (``own()``: its callbacks, asked
    only for an error's text: it builds every signature).

    ``target`` (or a SYSTEM operation) pins one node; fanout ALL is every other node offering the
    name; fanout ONE is the next of them in ``directory``'s round-robin.
    """
    if head.target or head.action == pb.CallHead.SYSTEM:
        target = directory.nodes.get(head.target)
        if target is None:
            why = "a call never goes back to the caller" if head.target == caller else "it is not connected"
            others = ", ".join(sorted(directory.nodes)) or "none"
            return Refused(pb.Error.NO_SUCH_NODE, f"cannot call node {head.target!r}: {why} (other nodes: {others})")
        if head.action != pb.CallHead.SYSTEM and head.name not in target.callbacks:
            hint = callback_hint(head.name, target.callbacks, wait=False)  # its own names only
            return Refused(
                pb.Error.UNKNOWN_CALLBACK,
                f"node {head.target!r} has no callback {head.name!r}{'; ' + hint if hint else ''}; "
                "callbacks of other nodes:\n" + directory.describe_offers(),
            )
        return [target.name]
    if head.fanout == pb.CallHead.ALL:
        found = directory.offering(head.name)
    else:
        one = directory.pick(head.name)
        found = [one] if one is not None else []
    if found:
        return found
    only_self = (
        " (only the calling node offers it, and a call never goes back to the caller)" if head.name in own() else ""
    )
    offered = (name for known in directory.nodes.values() for name in known.callbacks)
    return Refused(
        pb.Error.UNKNOWN_CALLBACK,
        f"no node offers callback {head.name!r}{only_self}; {callback_hint(head.name, offered)}; "
        "callbacks of other nodes:\n" + directory.describe_offers(),
    )
