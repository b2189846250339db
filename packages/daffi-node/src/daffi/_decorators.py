"""``@callback``, ``@fetcher`` and ``@callback_and_fetcher``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast, overload

from daffi_core.errors import InitializationError
from daffi_core.signature import G_PARAMETER

from daffi._bridge import interrupted
from daffi._contract import Contract
from daffi._execute import RemoteCall, execute
from daffi._modifiers import STREAM, Modifier, ModifierLike, as_modifier
from daffi._registry import register_class, register_function
from daffi._results import AwaitableValue
from daffi._v1 import take_exec_modifier, unwrapped, with_g

__all__ = ["ClassFetcher", "Fetcher", "__body_unknown__", "callback", "callback_and_fetcher", "fetcher"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
#: A function a decorator receives.
Function = Callable[..., object]


def __body_unknown__(*args: object, **kwargs: object) -> None:
    """Marks a fetcher body that is never run: only the name and signature matter."""


@overload
def callback(obj: type[T]) -> type[T]: ...
@overload
def callback(obj: F) -> F: ...


def callback(obj: object) -> object:
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


def _parameters(func: Function) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return {}


def _is_modifier(value: object) -> bool:
    return isinstance(value, Modifier) or (isinstance(value, type) and issubclass(value, Modifier))


class Fetcher:
    """A local stand-in for the remote callback of the same name.

    With a modifier in the decorator, calling it runs the remote callback; without
    one, calling it returns a call to complete with ``& MODIFIER``. ``f.call(...)``
    always returns the latter, so a per-call modifier overrides the decorator's.
    """

    def __init__(
        self,
        func: Function,
        exec_modifier: ModifierLike | None = None,
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

    def call(self, *args: object, **kwargs: object) -> RemoteCall[Any]:
        """The call, waiting for ``& MODIFIER``."""
        body = self.__wrapped__ if self.args_from_body else None
        return RemoteCall(self.name, args, kwargs, is_async=self.is_async, body=body, contract=self.contract)

    def stream(self, items: Iterable[object], modifier: ModifierLike = STREAM) -> AwaitableValue[None] | None:
        """``STREAM`` every item to every node offering the callback; same as ``f.call(items) & STREAM``."""
        call: RemoteCall[None] = RemoteCall(self.name, (items,), {}, is_async=self.is_async, contract=self.contract)
        try:
            return cast("AwaitableValue[None] | None", execute(call, as_modifier(modifier)))
        except KeyboardInterrupt as interrupt:  # Ctrl-C: the traceback ends at the caller's line
            interrupted(interrupt)
            raise

    def __call__(self, *args: object, **kwargs: object) -> Any:
        """Run the remote callback under the decorator's modifier and return what it returns (the result under
        ``FG``); without a modifier in the decorator, the call to complete with ``& MODIFIER``."""
        modifier = self.exec_modifier
        if kwargs:
            modifier = take_exec_modifier(kwargs) or modifier  # daffi 1.x: f(..., __exec_modifier__=BG)
        call = self.call(*args, **kwargs)
        if modifier is None:
            return call
        try:
            return execute(call, modifier)
        except KeyboardInterrupt as interrupt:
            interrupted(interrupt)
            raise

    def __repr__(self) -> str:
        return f"<fetcher {self.name} ({self.exec_modifier or 'modifier at call time'})>"


class ClassFetcher:
    """A class whose public methods are fetchers of the remote callbacks of the same names.

    ``@fetcher`` or ``@callback_and_fetcher`` on a class gives one; calling it creates the class's
    instance here (a callback class needs its one instance) and returns the same fetcher.
    """

    def __init__(self, cls: type, exec_modifier: ModifierLike | None = None) -> None:
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

    def __call__(self, *args: object, **kwargs: object) -> ClassFetcher:
        """Create the class's instance here (its callbacks' one instance); returns this fetcher."""
        self.__wrapped__(*args, **kwargs)
        return self

    def __repr__(self) -> str:
        return f"<fetcher class {self.__wrapped__.__qualname__} ({', '.join(self._fetchers) or 'no methods'})>"


@overload
def fetcher(exec_modifier: ModifierLike, /) -> Callable[[Function], Fetcher]: ...  # type: ignore[overload-overlap]
@overload
def fetcher(exec_modifier: type[object], /) -> ClassFetcher: ...  # type: ignore[overload-overlap]
@overload
def fetcher(exec_modifier: Function, /) -> Fetcher: ...
@overload
def fetcher(
    exec_modifier: ModifierLike | None = None, /, *, args_from_body: bool = False
) -> Callable[[Function], Fetcher]: ...
@overload
def fetcher(
    *, exec_modifier: ModifierLike | None = None, args_from_body: bool = False
) -> Callable[[Function], Fetcher]: ...


def fetcher(
    *args: object, exec_modifier: ModifierLike | None = None, args_from_body: bool = False
) -> Fetcher | ClassFetcher | Callable[[Function], Fetcher | ClassFetcher]:
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
        exec_modifier = cast(ModifierLike, first)
    if exec_modifier is not None:
        as_modifier(exec_modifier)  # fail at decoration time, not at the first call

    def decorate(func: Function) -> Fetcher | ClassFetcher:
        return _fetcher_of(func, exec_modifier, args_from_body)

    return decorate


def _fetcher_of(obj: object, exec_modifier: ModifierLike | None, args_from_body: bool) -> Fetcher | ClassFetcher:
    if isinstance(obj, type):
        if args_from_body:
            raise InitializationError(f"fetcher class {obj.__qualname__}: args_from_body applies to functions only")
        return ClassFetcher(obj, exec_modifier)
    if not callable(obj):
        raise InitializationError(f"@fetcher decorates a function or a class, not {type(obj).__name__}")
    return Fetcher(obj, exec_modifier, args_from_body)


@overload
def callback_and_fetcher(  # type: ignore[overload-overlap]
    obj: ModifierLike | None = None, /, *, exec_modifier: ModifierLike | None = None
) -> Callable[[Function], Fetcher]: ...
@overload
def callback_and_fetcher(obj: type[object], /) -> ClassFetcher: ...  # type: ignore[overload-overlap]
@overload
def callback_and_fetcher(obj: Function, /) -> Fetcher: ...


def callback_and_fetcher(
    obj: object = None, /, *, exec_modifier: ModifierLike | None = None
) -> Fetcher | ClassFetcher | Callable[[Function], Fetcher | ClassFetcher]:
    """Both at once: other nodes can call it; calling it here runs another node's copy.

    ``@callback_and_fetcher`` on a function or a class (its public methods), or
    ``@callback_and_fetcher(MODIFIER)`` to run the remote copy under ``MODIFIER``.
    """
    if obj is None or _is_modifier(obj):
        modifier = cast("ModifierLike | None", obj) if obj is not None else exec_modifier
        if modifier is not None:
            as_modifier(modifier)  # fail at decoration time, not at the first call

        def decorate(target: Function) -> Fetcher | ClassFetcher:
            return _both(target, modifier)

        return decorate
    return _both(obj, exec_modifier)


def _both(obj: object, exec_modifier: ModifierLike | None) -> Fetcher | ClassFetcher:
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
