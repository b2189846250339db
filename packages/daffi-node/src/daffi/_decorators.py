"""``@callback``, ``@fetcher`` and ``@callback_and_fetcher``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from daffi_core.errors import InitializationError

from daffi._execute import RemoteCall, execute
from daffi._modifiers import STREAM, Modifier, as_modifier
from daffi._registry import register_class, register_function

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def __body_unknown__(*args: Any, **kwargs: Any) -> None:
    """Marks a fetcher body that is never run: only the name and signature matter."""


@overload
def callback(obj: type[T]) -> type[T]: ...
@overload
def callback(obj: F) -> F: ...


def callback(obj: Any) -> Any:
    """Register a function (sync, async, generator) or a class's public methods as remote callbacks."""
    if isinstance(obj, type):
        register_class(obj)
        return obj
    if isinstance(obj, Fetcher):
        register_function(obj.__wrapped__)
        return obj
    if not callable(obj):
        raise InitializationError(f"@callback decorates a function or a class, not {type(obj).__name__}")
    register_function(obj)
    return obj


class Fetcher:
    """A local stand-in for the remote callback of the same name.

    With a modifier in the decorator, calling it runs the remote callback; without
    one, calling it returns a call to complete with ``& MODIFIER``. ``f.call(...)``
    always returns the latter, so a per-call modifier overrides the decorator's.
    """

    def __init__(self, func: Callable[..., Any], exec_modifier: Any = None, args_from_body: bool = False) -> None:
        if inspect.isasyncgenfunction(func):
            raise InitializationError(f"fetcher {func.__qualname__}: an async generator cannot be a fetcher")
        functools.update_wrapper(self, func)
        self.__wrapped__ = func
        self.name: str = func.__name__
        self.exec_modifier: Modifier | None = as_modifier(exec_modifier) if exec_modifier is not None else None
        self.args_from_body = args_from_body
        self.is_async = inspect.iscoroutinefunction(func)

    def call(self, *args: Any, **kwargs: Any) -> RemoteCall:
        """The call, waiting for ``& MODIFIER``."""
        body = self.__wrapped__ if self.args_from_body else None
        return RemoteCall(self.name, args, kwargs, is_async=self.is_async, body=body)

    def stream(self, items: Iterable[Any], modifier: Any = STREAM) -> Any:
        """``STREAM`` every item to every node offering the callback; same as ``f.call(items) & STREAM``."""
        return execute(RemoteCall(self.name, (items,), {}, is_async=self.is_async), as_modifier(modifier))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = self.call(*args, **kwargs)
        if self.exec_modifier is None:
            return call
        return execute(call, self.exec_modifier)

    def __repr__(self) -> str:
        return f"<fetcher {self.name} ({self.exec_modifier or 'modifier at call time'})>"


@overload
def fetcher(exec_modifier: Callable[..., Any], /) -> Fetcher: ...
@overload
def fetcher(
    exec_modifier: Any = None, /, *, args_from_body: bool = False
) -> Callable[[Callable[..., Any]], Fetcher]: ...
@overload
def fetcher(*, exec_modifier: Any = None, args_from_body: bool = False) -> Callable[[Callable[..., Any]], Fetcher]: ...


def fetcher(*args: Any, exec_modifier: Any = None, args_from_body: bool = False) -> Any:
    """Make a function a fetcher.

    ``@fetcher``, ``@fetcher(FG)``, ``@fetcher(exec_modifier=BG(eta=2), args_from_body=True)``.
    """
    if len(args) > 1:
        raise InitializationError("fetcher takes at most one positional argument, the execution modifier")
    if args:
        first = args[0]
        is_modifier = isinstance(first, Modifier) or (isinstance(first, type) and issubclass(first, Modifier))
        if not is_modifier:
            if callable(first):  # bare @fetcher
                return Fetcher(first, exec_modifier, args_from_body)
            raise InitializationError(f"{first!r} is not an execution modifier")
        exec_modifier = first
    if exec_modifier is not None:
        as_modifier(exec_modifier)  # fail at decoration time, not at the first call

    def decorate(func: Callable[..., Any]) -> Fetcher:
        return Fetcher(func, exec_modifier, args_from_body)

    return decorate


def callback_and_fetcher(func: Callable[..., Any]) -> Fetcher:
    """Both at once: other nodes can call ``func``; calling it here runs another node's copy."""
    register_function(func)
    return Fetcher(func)


__all__ = ["Fetcher", "__body_unknown__", "callback", "callback_and_fetcher", "fetcher"]
