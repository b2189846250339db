"""``fake_nodes()``: the public face of the fakes (``FakeNodes``, ``FakeNode``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from daffi import _node
from daffi._caller import RemoteIterator
from daffi._decorators import Fetcher
from daffi._typed import AsyncRemote, Remote, signature_of
from daffi.testing._clock import FakeClock
from daffi.testing._switchboard import Switchboard
from daffi.testing._work import Arguments, Impl, Served

__all__ = ["FakeNode", "FakeNodes", "Stub", "fake_nodes"]

P = ParamSpec("P")
R = TypeVar("R")
Y = TypeVar("Y")
#: What ``FakeNode.calls`` takes: a generated stub (or any fetcher).
Stub = Remote[..., Any] | AsyncRemote[..., Any] | Fetcher


class FakeNode:
    """One fake remote node: the callbacks it serves, the calls it received, up or down."""

    def __init__(self, board: Switchboard, served: Served) -> None:
        self._board = board
        self._served = served

    @property
    def name(self) -> str:
        """The node's process name (what ``BROADCAST`` results and ``ScheduledTask`` name)."""
        return self._served.name

    @property
    def is_down(self) -> bool:
        """``down()`` was called (and no ``up()`` since)."""
        return self._served.down

    # The plain overloads come first: mypy explains a misfit with the first overload that could apply.
    @overload
    def serve(self, stub: Remote[P, R], impl: Callable[P, R]) -> FakeNode: ...
    @overload
    def serve(self, stub: Remote[P, RemoteIterator[Y]], impl: Callable[P, Iterable[Y]]) -> FakeNode: ...
    @overload
    def serve(self, stub: AsyncRemote[P, R], impl: Callable[P, R] | Callable[P, Awaitable[R]]) -> FakeNode: ...
    @overload
    def serve(self, stub: AsyncRemote[P, RemoteIterator[Y]], impl: Callable[P, Iterable[Y]]) -> FakeNode: ...

    def serve(self, stub: object, impl: Impl) -> FakeNode:
        """Serve ``stub``'s callback with ``impl``; returns this node (chainable).

        The node announces the stub's contract signature (``daffi._typed.signature_of``). A
        generator stub's ``impl`` returns an iterable (its items are sent as the consumer's credit
        allows); an async stub's ``impl`` may return an awaitable. Serving a name again replaces it.
        """
        self._board.serve(self._served, signature_of(stub), impl)
        return self

    def calls(self, stub: Stub) -> list[Arguments]:
        """``(args, kwargs)`` of every run of ``stub``'s callback on this node, in order, deserialized.

        One entry per run: per call (FG, BG, each node of a BROADCAST, a generator), per STREAM
        item, per PERIOD run.
        """
        return self._served.calls(signature_of(stub).name)

    def down(self) -> FakeNode:
        """Die: what it owes (a call, a generator, a stream in progress) fails, and so does every new call.

        ``RemoteStoppedUnexpectedly``, as when a real node's process dies. The node stays listed
        (as until the controller notices), so round-robin and BROADCAST still pick it; its PERIOD
        tasks skip their runs while it is down.
        """
        self._board.set_down(self._served, True)
        return self

    def up(self) -> FakeNode:
        """Undo ``down()``: new calls are served again."""
        self._board.set_down(self._served, False)
        return self

    def __repr__(self) -> str:
        state = "down" if self._served.down else "up"
        return f"<FakeNode {self.name!r} ({state}) serving {sorted(self._served.impls) or 'nothing'}>"


class FakeNodes:
    """Fake remote nodes for a caller's unit tests; use as ``with fake_nodes() as nodes:``."""

    def __init__(self, process_name: str = "caller") -> None:
        #: The calling process's name (what a real Global would be called).
        self.process_name = process_name
        #: The fake time of PERIOD tasks, ``eta`` and call timeouts.
        self.clock = FakeClock()
        self._board = Switchboard(process_name, self.clock)
        self._nodes: dict[str, FakeNode] = {}

    def add(self, name: str) -> FakeNode:
        """A new fake node named ``name`` (ValueError when one exists already)."""
        node = FakeNode(self._board, self._board.add(name))
        self._nodes[name] = node
        return node

    def __getitem__(self, name: str) -> FakeNode:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __iter__(self) -> Iterator[FakeNode]:
        return iter(list(self._nodes.values()))

    def __len__(self) -> int:
        return len(self._nodes)

    def __enter__(self) -> FakeNodes:
        """Become this process's running Global (InitializationError when a real one runs)."""
        running = _node.running()
        _node.install(self, repr(getattr(running, "process_name", "?")) if running is not None else "?")
        self._board.open = True
        _node.attach(self, self._board)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop: open calls fail, PERIOD tasks end, and fetchers find no Global any more."""
        try:
            self._board.close()
        finally:
            _node.uninstall(self)

    def __repr__(self) -> str:
        return f"<FakeNodes {sorted(self._nodes)}>"


def fake_nodes(process_name: str = "caller") -> FakeNodes:
    """Fake remote nodes in this process, no controller: ``with fake_nodes() as nodes: ...``.

    Inside the ``with`` block, fetchers and generated stubs call the fake nodes through the real
    caller machinery (every modifier, arguments and results through the real serializer).
    ``process_name`` is the name the calling side goes by.
    """
    return FakeNodes(process_name)
