"""Routing of call traffic. Reads headers only; payload bytes pass through untouched.

A message arrives parsed (for its headers) and, when the batch allows, with a view of its
bytes: it is forwarded as those bytes with the new ``peer`` appended (``daffi_core.framing``),
so its payload is never copied by Python code.
"""

from __future__ import annotations

import logging
import time

from daffi_core import framing, routing
from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import DOWNSTREAM, UPSTREAM
from daffi_core.stats import DEFAULT_MODIFIER, ERROR, STOPPED, outcome_of

from daffi_controller.registry import Peer, Registry
from daffi_controller.stats import Stats

__all__ = ["Route", "Router"]

log = logging.getLogger("daffi.controller")

RouteKey = tuple[str, int]  # (caller name, call id)
_clock = time.perf_counter


class Route:
    """One open call: the callees that still owe it a final REPLY, and what the counters need."""

    __slots__ = ("modifier", "name", "started", "targets")

    def __init__(self, name: str, modifier: str, targets: set[str]) -> None:
        self.name = name
        self.modifier = modifier
        self.targets = targets
        self.started = _clock()


class Router:
    """Open calls and the callees that still owe them a final REPLY."""

    def __init__(self, registry: Registry, stats: Stats | None = None) -> None:
        self.registry = registry
        self.stats = stats or Stats()
        self._routes: dict[RouteKey, Route] = {}
        self._by_callee: dict[str, set[RouteKey]] = {}
        self._by_caller: dict[str, set[RouteKey]] = {}
        #: Receivers fed since the servicer last looked whose outbox is over its high-water mark.
        self.congested: set[Peer] = set()
        #: The controller is stopping: nodes leave because of it, not of their own accord.
        self.closing = False

    @property
    def open_calls(self) -> int:
        return len(self._routes)

    def in_flight(self) -> dict[str, dict[str, int]]:
        """Calls each node is serving now, by callback (for ``inspect``)."""
        serving: dict[str, dict[str, int]] = {}
        for route in self._routes.values():
            for name in route.targets:
                per_node = serving.setdefault(name, {})
                per_node[route.name] = per_node.get(route.name, 0) + 1
        return serving

    def handle(self, sender: Peer, msg: pb.Message, raw: memoryview | None = None) -> None:
        """Route ``msg`` from ``sender``; ``raw`` is its serialized form when the batch gave it."""
        kind = msg.kind
        if kind == pb.Message.CALL and not msg.continuation:
            self._open(sender, msg, raw)
        elif kind in DOWNSTREAM:
            route = self._routes.get((sender.name, msg.call_id))
            if route is not None and route.targets:
                self._deliver(_relayed(msg, raw, sender.name), route.targets)
        elif kind in UPSTREAM:
            self._upstream(sender, msg, raw)
        else:
            log.warning("node %r sent a message of unknown kind %d; ignored", sender.name, kind)

    def _open(self, caller: Peer, msg: pb.Message, raw: memoryview | None) -> None:
        head = msg.head
        key = (caller.name, msg.call_id)
        if key in self._routes:
            self._fail(caller, msg.call_id, pb.Error.INTERNAL, f"call id {msg.call_id} is already open")
            return
        targets = self._targets(caller, head, msg.call_id)
        if targets is None:
            self.stats.finished(head.name, _modifier(head), ERROR, 0.0)
            return
        if head.fanout == pb.CallHead.ALL:
            caller.send(
                pb.Frame(
                    message=pb.Message(kind=pb.Message.ACCEPTED, call_id=msg.call_id, targets=[t.name for t in targets])
                )
            )
        names = {t.name for t in targets}
        self._routes[key] = Route(head.name, _modifier(head), names)
        self._by_caller.setdefault(caller.name, set()).add(key)
        for name in names:
            self._by_callee.setdefault(name, set()).add(key)
        self._deliver(_relayed(msg, raw, caller.name), names)

    def _targets(self, caller: Peer, head: pb.CallHead, call_id: int) -> list[Peer] | None:
        found = routing.targets(self.registry, head, caller.name, lambda: caller.callbacks)
        if isinstance(found, routing.Refused):
            self._fail(caller, call_id, found.kind, found.message)
            return None
        return found

    def _upstream(self, callee: Peer, msg: pb.Message, raw: memoryview | None) -> None:
        key = (msg.peer, msg.call_id)
        if msg.kind == pb.Message.REPLY and not msg.more:
            self._settle(key, callee.name, outcome_of(msg.error if msg.HasField("error") else None))
        caller = self.registry.nodes.get(msg.peer)
        if caller is not None:
            self._forward(caller, _relayed(msg, raw, callee.name))

    def _settle(self, key: RouteKey, callee: str, outcome: str) -> None:
        """``callee`` owes ``key`` nothing more (counted as ``outcome``); forget the route once nobody does."""
        route = self._routes.get(key)
        if route is None or callee not in route.targets:
            return
        targets = route.targets
        targets.discard(callee)
        self.stats.finished(route.name, route.modifier, outcome, _clock() - route.started)
        keys = self._by_callee.get(callee)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_callee[callee]
        if not targets:
            del self._routes[key]
            callers = self._by_caller.get(key[0])
            if callers is not None:
                callers.discard(key)
                if not callers:
                    del self._by_caller[key[0]]

    def drop_node(self, name: str) -> None:
        """Fail the calls a departed node owed, and cancel the calls it had made.

        While the controller stops, its callers are not told that ``name`` stopped: it did not, and
        their own connection ends next, which tells them the controller went away.
        """
        for key in list(self._by_callee.get(name, ())):
            caller = self.registry.nodes.get(key[0])
            self._settle(key, name, STOPPED)
            if caller is not None and not self.closing:
                caller.send(
                    pb.Frame(
                        message=pb.Message(
                            kind=pb.Message.REPLY,
                            call_id=key[1],
                            peer=name,
                            error=pb.Error(
                                kind=pb.Error.REMOTE_STOPPED, message=f"Remote process {name!r} stopped unexpectedly."
                            ),
                        )
                    )
                )
        for key in list(self._by_caller.get(name, ())):
            route = self._routes.get(key)
            if route is None:
                continue
            cancel = framing.frame(pb.Frame(message=pb.Message(kind=pb.Message.CANCEL, call_id=key[1], peer=name)))
            self._deliver(cancel, route.targets)
            for target in list(route.targets):
                self._settle(key, target, STOPPED)

    def _deliver(self, frame: Encoded, names: set[str]) -> None:
        for name in names:
            peer = self.registry.nodes.get(name)
            if peer is not None:
                self._forward(peer, frame)

    def _forward(self, peer: Peer, frame: Encoded) -> None:
        peer.send(frame)
        if peer.sink.congested:
            self.congested.add(peer)

    @staticmethod
    def _fail(caller: Peer, call_id: int, kind: pb.Error.Kind.ValueType, message: str) -> None:
        caller.send(
            pb.Frame(
                message=pb.Message(
                    kind=pb.Message.REPLY,
                    call_id=call_id,
                    error=pb.Error(kind=kind, type_name="GlobalContextError", message=message),
                )
            )
        )


def _modifier(head: pb.CallHead) -> str:
    if head.modifier:
        return head.modifier
    return "SYSTEM" if head.action == pb.CallHead.SYSTEM else DEFAULT_MODIFIER


def _relayed(msg: pb.Message, raw: memoryview | None, peer: str) -> Encoded:
    """``msg`` as it goes on, from (or to) ``peer``: its own bytes when known, else re-serialized."""
    if raw is not None:
        return framing.forward(raw, peer)
    msg.peer = peer
    return framing.reencoded(msg)
