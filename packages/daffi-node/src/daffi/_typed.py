"""Typed fetchers, the building block of the stubs daffi-codegen generates.

``@remote`` on a function with the callback's exact signature gives a fetcher that
type checkers understand: calling it runs the callback in the foreground (``FG``)
and returns its result type; ``f.call(...) & MODIFIER`` returns what that modifier
returns (``BG`` → ``AsyncResult[R]``, ``BROADCAST`` → ``dict[str, R]``, ``PERIOD`` →
``ScheduledTask``), and ``f.stream(items)`` streams (``STREAM``). For ``async def``
the results are awaitable.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from daffi._decorators import Fetcher
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM
from daffi._results import AsyncResult, AwaitableValue, ScheduledTask

P = ParamSpec("P")
R = TypeVar("R")


class Call(Protocol[R]):
    """A call of a sync fetcher waiting for its modifier."""

    @overload
    def __and__(self, modifier: type[FG] | FG) -> R: ...
    @overload
    def __and__(self, modifier: type[BG] | BG) -> AsyncResult[R]: ...
    @overload
    def __and__(self, modifier: type[BROADCAST] | BROADCAST) -> dict[str, R]: ...
    @overload
    def __and__(self, modifier: PERIOD) -> ScheduledTask: ...


class AsyncCall(Protocol[R]):
    """A call of an async fetcher waiting for its modifier."""

    @overload
    def __and__(self, modifier: type[FG] | FG) -> AwaitableValue[R]: ...
    @overload
    def __and__(self, modifier: type[BG] | BG) -> AsyncResult[R]: ...
    @overload
    def __and__(self, modifier: type[BROADCAST] | BROADCAST) -> AwaitableValue[dict[str, R]]: ...
    @overload
    def __and__(self, modifier: PERIOD) -> AwaitableValue[ScheduledTask]: ...


class Remote(Protocol[P, R]):
    """A typed fetcher of a sync callback."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def call(self, *args: P.args, **kwargs: P.kwargs) -> Call[R]: ...
    def stream(self, items: Iterable[Any], modifier: type[STREAM] | STREAM = ...) -> None: ...


class AsyncRemote(Protocol[P, R]):
    """A typed fetcher of an async callback: await its result, or use it as a value."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AwaitableValue[R]: ...
    def call(self, *args: P.args, **kwargs: P.kwargs) -> AsyncCall[R]: ...
    def stream(self, items: Iterable[Any], modifier: type[STREAM] | STREAM = ...) -> AwaitableValue[None]: ...


@overload
def remote(func: Callable[P, Coroutine[Any, Any, R]]) -> AsyncRemote[P, R]: ...  # type: ignore[overload-overlap]
@overload
def remote(func: Callable[P, R]) -> Remote[P, R]: ...


def remote(func: Callable[..., Any]) -> Any:
    """A fetcher typed by ``func``'s signature that runs the remote callback of the same name (``FG``)."""
    return Fetcher(func, FG)


__all__ = ["AsyncCall", "AsyncRemote", "Call", "Remote", "remote"]
