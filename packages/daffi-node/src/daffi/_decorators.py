"""``@callback``, ``@fetcher`` and ``@callback_and_fetcher``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from daffi_core.errors import InitializationError
from daffi_core.signature import G_PARAMETER

from daffi._contract import Contract
from daffi._execute import RemoteCall, execute
from daffi._modifiers import STREAM, Modifier, as_modifier
from daffi._registry import register_class, register_function
from daffi._v1 import take_exec_modifier, unwrapped, with_g

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def __body_unknown__(*args: Any, **kwargs: Any) -> None:
    """Marks a fetcher body that is never run: only the name and signature matter."""


@overload
def callback(obj: type[T]) -> type[T]: ...
@overload
def callback(obj: F) -> F: ...


def callback(obj: Any) -> Any:
    """Register a function (sync, async, generator) or a class's public methods as remote callbacks.

    A function taking ``g`` receives the callee's ``Global`` when called remotely, and the running
    ``Global`` of this process when called here.
    """
    if isinstance(obj, type):
        register_class(obj)
        return obj
    if isinstance(obj, Fetcher):
        register_function(obj.__wrapped__)
        return obj
    if not callable(obj):
        raise InitializationError(f"@callback decorates a function or a class, not {type(obj).__name__}")
    func = unwrapped(obj)
    register_function(func)
    return with_g(func) if G_PARAMETER in _parameters(func) else obj


def _parameters(func: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return {}


def _is_modifier(value: Any) -> bool:
    return isinstance(value, Modifier) or (isinstance(value, type) and issubclass(value, Modifier))


class Fetcher:
    """A local stand-in for the remote callback of the same name.

    With a modifier in the decorator, calling it runs the remote callback; without
    one, calling it returns a call to complete with ``& MODIFIER``. ``f.call(...)``
    always returns the latter, so a per-call modifier overrides the decorator's.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        exec_modifier: Any = None,
        args_from_body: bool = False,
        contract: Contract | None = None,
    ) -> None:
        if inspect.isasyncgenfunction(func):
            raise InitializationError(f"fetcher {func.__qualname__}: an async generator cannot be a fetcher")
        functools.update_wrapper(self, func)
        self.__wrapped__ = func
        self.name: str = func.__name__
        self.exec_modifier: Modifier | None = as_modifier(exec_modifier) if exec_modifier is not None else None
        self.args_from_body = args_from_body
        self.is_async = inspect.iscoroutinefunction(func)
        #: A generated stub's: the signature it was made from, checked by the callee on each call.
        self.contract = contract

    def call(self, *args: Any, **kwargs: Any) -> RemoteCall:
        """The call, waiting for ``& MODIFIER``."""
        body = self.__wrapped__ if self.args_from_body else None
        return RemoteCall(self.name, args, kwargs, is_async=self.is_async, body=body, contract=self.contract)

    def stream(self, items: Iterable[Any], modifier: Any = STREAM) -> Any:
        """``STREAM`` every item to every node offering the callback; same as ``f.call(items) & STREAM``."""
        call = RemoteCall(self.name, (items,), {}, is_async=self.is_async, contract=self.contract)
        return execute(call, as_modifier(modifier))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        modifier = self.exec_modifier
        if kwargs:
            modifier = take_exec_modifier(kwargs) or modifier  # daffi 1.x: f(..., __exec_modifier__=BG)
        call = self.call(*args, **kwargs)
        if modifier is None:
            return call
        return execute(call, modifier)

    def __repr__(self) -> str:
        return f"<fetcher {self.name} ({self.exec_modifier or 'modifier at call time'})>"


class ClassFetcher:
    """A class whose public methods are fetchers of the remote callbacks of the same names.

    ``@fetcher`` or ``@callback_and_fetcher`` on a class gives one; calling it creates the class's
    instance here (a callback class needs its one instance) and returns the same fetcher.
    """

    def __init__(self, cls: type, exec_modifier: Any = None) -> None:
        functools.update_wrapper(self, cls, updated=())
        self.__wrapped__ = cls
        self._fetchers: dict[str, Fetcher] = {}
        for name in dir(cls):
            raw = inspect.getattr_static(cls, name)
            func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw
            if not name.startswith("_") and inspect.isfunction(func):
                self._fetchers[name] = Fetcher(func, exec_modifier)

    def __getattr__(self, name: str) -> Any:
        fetchers = self.__dict__.get("_fetchers", {})
        if name in fetchers:
            return fetchers[name]
        return getattr(self.__dict__["__wrapped__"], name)

    def __call__(self, *args: Any, **kwargs: Any) -> ClassFetcher:
        self.__wrapped__(*args, **kwargs)
        return self

    def __repr__(self) -> str:
        return f"<fetcher class {self.__wrapped__.__qualname__} ({', '.join(self._fetchers) or 'no methods'})>"


@overload
def fetcher(exec_modifier: type[Modifier] | Modifier, /) -> Callable[[Callable[..., Any]], Fetcher]: ...
@overload
def fetcher(exec_modifier: type[Any], /) -> ClassFetcher: ...
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
        if not _is_modifier(first):
            if callable(first):  # bare @fetcher
                return _fetcher_of(first, exec_modifier, args_from_body)
            raise InitializationError(f"{first!r} is not an execution modifier")
        exec_modifier = first
    if exec_modifier is not None:
        as_modifier(exec_modifier)  # fail at decoration time, not at the first call

    def decorate(func: Callable[..., Any]) -> Any:
        return _fetcher_of(func, exec_modifier, args_from_body)

    return decorate


def _fetcher_of(obj: Any, exec_modifier: Any, args_from_body: bool) -> Fetcher | ClassFetcher:
    if isinstance(obj, type):
        if args_from_body:
            raise InitializationError(f"fetcher class {obj.__qualname__}: args_from_body applies to functions only")
        return ClassFetcher(obj, exec_modifier)
    if not callable(obj):
        raise InitializationError(f"@fetcher decorates a function or a class, not {type(obj).__name__}")
    return Fetcher(obj, exec_modifier, args_from_body)


@overload
def callback_and_fetcher(
    obj: type[Modifier] | Modifier | None = None, /, *, exec_modifier: Any = None
) -> Callable[[Callable[..., Any]], Fetcher]: ...
@overload
def callback_and_fetcher(obj: type[Any], /) -> ClassFetcher: ...
@overload
def callback_and_fetcher(obj: Callable[..., Any], /) -> Fetcher: ...


def callback_and_fetcher(obj: Any = None, /, *, exec_modifier: Any = None) -> Any:
    """Both at once: other nodes can call it; calling it here runs another node's copy.

    ``@callback_and_fetcher`` on a function or a class (its public methods), or
    ``@callback_and_fetcher(MODIFIER)`` to run the remote copy under ``MODIFIER``.
    """
    if obj is None or _is_modifier(obj):
        modifier = obj if obj is not None else exec_modifier
        if modifier is not None:
            as_modifier(modifier)  # fail at decoration time, not at the first call

        def decorate(target: Any) -> Any:
            return _both(target, modifier)

        return decorate
    return _both(obj, exec_modifier)


def _both(obj: Any, exec_modifier: Any) -> Fetcher | ClassFetcher:
    if isinstance(obj, type):
        register_class(obj)
        return ClassFetcher(obj, exec_modifier)
    if isinstance(obj, (Fetcher, ClassFetcher)) or not (inspect.isfunction(obj) or inspect.ismethod(obj)):
        raise InitializationError(
            f"@callback_and_fetcher decorates a function or a class, not {obj!r}; "
            "for a modifier write @callback_and_fetcher(FG) (or another execution modifier)"
        )
    func = unwrapped(obj)
    fetcher_ = Fetcher(func, exec_modifier)  # checks what a fetcher cannot be before registering
    register_function(func)
    return fetcher_


__all__ = ["ClassFetcher", "Fetcher", "__body_unknown__", "callback", "callback_and_fetcher", "fetcher"]
