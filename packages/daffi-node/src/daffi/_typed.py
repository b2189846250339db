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
from typing import ParamSpec, Protocol, TypeVar, overload

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import describe

from daffi._contract import Contract
from daffi._decorators import Fetcher
from daffi._durations import Duration
from daffi._execute import RemoteCall
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM, AtTime
from daffi._results import AsyncResult, AwaitableValue, ScheduledTask
from daffi._v1 import RetryPolicy

__all__ = ["AsyncCall", "AsyncRemote", "Remote", "remote", "signature_of"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncCall(Protocol[R]):
    """A call of an async fetcher waiting for its modifier (a sync fetcher's is a ``RemoteCall``)."""

    @overload
    def __and__(self, modifier: type[FG] | FG) -> AwaitableValue[R]: ...
    @overload
    def __and__(self, modifier: type[BG] | BG) -> AsyncResult[R]: ...
    @overload
    def __and__(self, modifier: type[BROADCAST] | BROADCAST) -> AwaitableValue[dict[str, R]]: ...
    @overload
    def __and__(self, modifier: type[STREAM] | STREAM) -> AwaitableValue[None]: ...
    @overload
    def __and__(self, modifier: PERIOD) -> AwaitableValue[ScheduledTask]: ...

    # The daffi 1.x spellings of the same (RemoteCall.fg() & co.).
    def fg(self, timeout: Duration | None = None, retry_policy: RetryPolicy | None = None) -> AwaitableValue[R]: ...
    def bg(
        self,
        timeout: Duration | None = None,
        eta: Duration | None = None,
        retry_policy: RetryPolicy | None = None,
        no_return: bool = False,
    ) -> AsyncResult[R]: ...
    def broadcast(
        self,
        eta: Duration | None = None,
        return_result: bool = True,
        timeout: Duration | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> AwaitableValue[dict[str, R]]: ...
    def period(
        self, at_time: AtTime | None = None, interval: Duration | None = None
    ) -> AwaitableValue[ScheduledTask]: ...


class Remote(Protocol[P, R]):
    """A typed fetcher of a sync callback."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def call(self, *args: P.args, **kwargs: P.kwargs) -> RemoteCall[R]: ...
    def stream(self, items: Iterable[object], modifier: type[STREAM] | STREAM = ...) -> None: ...


class AsyncRemote(Protocol[P, R]):
    """A typed fetcher of an async callback: await its result, or use it as a value."""

    name: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AwaitableValue[R]: ...
    def call(self, *args: P.args, **kwargs: P.kwargs) -> AsyncCall[R]: ...
    def stream(self, items: Iterable[object], modifier: type[STREAM] | STREAM = ...) -> AwaitableValue[None]: ...


class _Decorate(Protocol):
    """What ``remote(contract=...)`` returns: ``remote`` itself, applied to the function."""

    @overload
    def __call__(self, func: Callable[P, Coroutine[object, object, R]], /) -> AsyncRemote[P, R]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, func: Callable[P, R], /) -> Remote[P, R]: ...


@overload
def remote(func: Callable[P, Coroutine[object, object, R]], /) -> AsyncRemote[P, R]: ...  # type: ignore[overload-overlap]
@overload
def remote(func: Callable[P, R], /) -> Remote[P, R]: ...
@overload
def remote(*, contract: str) -> _Decorate: ...


def remote(func: Callable[..., object] | None = None, /, *, contract: str | None = None) -> object:
    """A fetcher typed by ``func``'s signature that runs the remote callback of the same name (``FG``).

    Generated stubs pass ``contract``, the callee's signature they were made from: each call carries
    its fingerprint, and a callee whose signature changed incompatibly since refuses the call with
    ``SignatureMismatch`` before running it.
    """

    def decorate(func: Callable[..., object]) -> Fetcher:
        parsed = Contract.parse(contract, func.__module__) if contract is not None else None
        return Fetcher(func, FG, contract=parsed)

    return decorate if func is None else decorate(func)


def signature_of(stub: object) -> pb.CallbackSignature:
    """The callee signature ``stub`` was made from: its contract's, else its own function's."""
    if not isinstance(stub, Fetcher):
        raise TypeError(f"{stub!r} is not a fetcher (a generated stub or an @fetcher function)")
    if stub.contract is not None:
        return stub.contract.signature
    return describe(stub.__wrapped__, stub.name)
