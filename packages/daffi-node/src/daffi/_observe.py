"""What watches calls: the seam between the call core and metrics or tracing.

The caller tells an ``Observer`` of each call it opens and gets back what to tell when the call
ends; the callee asks it for a ``Served`` per call it serves, runs the callback's work inside
``Served.scoped`` (where a span is the current one, so calls made from the callback continue
the trace) and reports the outcome. A node without metrics or tracing has no observer at all:
the call core checks for None and pays nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Ended", "Job", "Observer", "Observers", "Served"]

Job = TypeVar("Job", bound=Callable[..., object])
#: Called once with the outcome label (``daffi_core.stats``: ok, error, timeout, stopped).
Ended = Callable[[str], None]


class Served(Protocol):
    """One call being served, as an observer follows it."""

    def scoped(self, job: Job) -> Job:
        """``job`` (a function, or a coroutine function) running in this call's context."""

    def done(self, outcome: str) -> None:
        """The call was answered with ``outcome``."""


class Observer(Protocol):
    """Follows calls made and served (``daffi._metrics``, ``daffi._tracing``)."""

    def calling(self, head: pb.CallHead) -> Ended:
        """A call opens (in the caller's thread, before ``head`` is encoded: it may add to it)."""

    def serving(self, head: pb.CallHead, caller: str) -> Served:
        """A call from ``caller`` starts being served."""


class Observers:
    """Several observers as one."""

    def __init__(self, observers: Sequence[Observer]) -> None:
        self._observers = tuple(observers)

    def calling(self, head: pb.CallHead) -> Ended:
        ended = [o.calling(head) for o in self._observers]

        def done(outcome: str) -> None:
            for end in ended:
                end(outcome)

        return done

    def serving(self, head: pb.CallHead, caller: str) -> Served:
        return _AllServed([o.serving(head, caller) for o in self._observers])


class _AllServed:
    def __init__(self, served: list[Served]) -> None:
        self._served = served

    def scoped(self, job: Job) -> Job:
        for served in self._served:
            job = served.scoped(job)
        return job

    def done(self, outcome: str) -> None:
        for served in self._served:
            served.done(outcome)
