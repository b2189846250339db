"""This node's view of the other nodes and their callbacks, kept current by the controller."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future

from daffi_core.contract import fingerprint
from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Catalog", "Nodes"]

Nodes = dict[str, dict[str, pb.CallbackSignature]]


class Catalog:
    """Updated on the node's loop; read and waited on from any thread."""

    def __init__(self) -> None:
        self._nodes: Nodes = {}
        #: callback name -> the signature of the first node offering it; replaced whole on every update,
        #: so that a call reads it without the lock.
        self._index: dict[str, pb.CallbackSignature] = {}
        self._lock = threading.Lock()
        #: (process, callback) -> (its signature, its fingerprint), computed when a stub's call asks.
        self._fingerprints: dict[tuple[str, str], tuple[pb.CallbackSignature, str]] = {}
        self._watchers: list[tuple[Callable[[Nodes], bool], Future[None]]] = []

    # -- updates (node loop)
    def replace(self, infos: Iterable[pb.NodeInfo]) -> tuple[set[str], set[str]]:
        """Set the whole view; returns (names that appeared, names that vanished)."""
        with self._lock:
            before = set(self._nodes)
            self._nodes = {i.process_name: {c.name: c for c in i.callbacks} for i in infos}
            self._fingerprints.clear()
            after = set(self._nodes)
        self._check()
        return after - before, before - after

    def join(self, info: pb.NodeInfo) -> bool:
        """Add or update a node; True when it is new."""
        with self._lock:
            new = info.process_name not in self._nodes
            self._nodes[info.process_name] = {c.name: c for c in info.callbacks}
        self._check()
        return new

    def leave(self, name: str) -> bool:
        with self._lock:
            gone = self._nodes.pop(name, None) is not None
            self._fingerprints = {k: v for k, v in self._fingerprints.items() if k[0] != name}
        self._check()
        return gone

    def _check(self) -> None:
        with self._lock:
            index: dict[str, pb.CallbackSignature] = {}
            for callbacks in self._nodes.values():
                for name, sig in callbacks.items():
                    index.setdefault(name, sig)
            self._index = index
            snapshot = self._nodes
            ready = [w for w in self._watchers if w[0](snapshot)]
            for w in ready:
                self._watchers.remove(w)
        for _, future in ready:
            if not future.done():
                future.set_result(None)

    # -- reads (any thread)
    def when(self, predicate: Callable[[Nodes], bool]) -> Future[None]:
        """A future that completes once ``predicate`` holds for the view."""
        future: Future[None] = Future()
        with self._lock:
            if predicate(self._nodes):
                future.set_result(None)
            else:
                self._watchers.append((predicate, future))
        return future

    def forget(self, future: Future[None]) -> None:
        with self._lock:
            self._watchers = [w for w in self._watchers if w[1] is not future]

    def has_process(self, name: str) -> bool:
        return name in self._nodes

    def signature(self, callback: str, process: str | None = None) -> pb.CallbackSignature | None:
        """The announced signature of ``callback`` (on ``process``, or the first node offering it)."""
        if process is None:
            return self._index.get(callback)
        with self._lock:
            return self._nodes.get(process, {}).get(callback)

    def fingerprints(self, callback: str) -> set[str]:
        """The fingerprints (``daffi_core.contract``) of ``callback`` on every node offering it."""
        found: set[str] = set()
        with self._lock:
            for process, callbacks in self._nodes.items():
                sig = callbacks.get(callback)
                if sig is None:
                    continue
                cached = self._fingerprints.get((process, callback))
                if cached is None or cached[0] is not sig:
                    cached = (sig, fingerprint(sig))
                    self._fingerprints[(process, callback)] = cached
                found.add(cached[1])
        return found

    def offers(self) -> dict[str, list[str]]:
        """``{process_name: [callback names]}`` of the other nodes."""
        with self._lock:
            return {name: sorted(cbs) for name, cbs in sorted(self._nodes.items())}

    def nodes(self) -> list[str]:
        """The names of the other connected nodes."""
        with self._lock:
            return list(self._nodes)

    def describe(self) -> str:
        """Every other node with its callbacks, in the order the node registered them."""
        with self._lock:
            nodes = sorted(self._nodes.items())
        lines = [f"process: {name}\n  - [ {', '.join(cbs) or '(none)'} ]" for name, cbs in nodes]
        return "\n".join(lines) if lines else "(no other node is connected)"
