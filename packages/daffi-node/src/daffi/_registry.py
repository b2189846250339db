"""Callbacks registered in this process with ``@callback``."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from daffi_core.contract import fingerprint
from daffi_core.errors import InitializationError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import G_PARAMETER, describe

__all__ = ["CallbackRegistry", "LocalCallback", "REGISTRY", "UserFunction", "register_class", "register_function"]

#: A user's callback as called: its arguments and its result are the user's own values.
UserFunction: TypeAlias = Callable[..., Any]
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class LocalCallback:
    """One callback: its announced signature and how to get the callable at call time."""

    name: str
    signature: pb.CallbackSignature
    resolve: Callable[[], UserFunction]
    is_async: bool
    is_generator: bool
    takes_g: bool
    #: positional parameters besides ``g`` (-1: takes *args); decides how stream items unpack
    positional: int

    @functools.cached_property
    def fingerprint(self) -> str:
        """What a call through a stub made from this exact signature carries (``daffi_core.contract``)."""
        return fingerprint(self.signature)


class CallbackRegistry:
    """Name -> callback, shared by the process; listeners hear about late registrations."""

    def __init__(self) -> None:
        self._callbacks: dict[str, LocalCallback] = {}
        self._listeners: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def add(self, cb: LocalCallback) -> None:
        with self._lock:
            self._callbacks[cb.name] = cb
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def get(self, name: str) -> LocalCallback | None:
        return self._callbacks.get(name)

    def signatures(self) -> list[pb.CallbackSignature]:
        with self._lock:
            return [cb.signature for cb in self._callbacks.values()]

    def names(self) -> list[str]:
        return sorted(self._callbacks)

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after every registration; returns the function that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop


REGISTRY = CallbackRegistry()


def _positional_count(func: UserFunction, skip_first: bool) -> int:
    params = list(inspect.signature(func).parameters.values())[1 if skip_first else 0 :]
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return -1
    return sum(1 for p in params if p.kind in _POSITIONAL and p.name != G_PARAMETER)


def _entry(
    name: str, func: UserFunction, resolve: Callable[[], UserFunction], skip_first: bool = False
) -> LocalCallback:
    sig = describe(func, name, skip_first=skip_first)
    return LocalCallback(
        name=name,
        signature=sig,
        resolve=resolve,
        is_async=sig.is_async,
        is_generator=sig.is_generator,
        takes_g=sig.takes_g,
        positional=_positional_count(func, skip_first),
    )


def register_function(func: UserFunction) -> None:
    if getattr(func, "__name__", "") == "<lambda>":
        raise InitializationError("a lambda cannot be a callback: it has no name to call it by; use def")
    _check_g(func)
    REGISTRY.add(_entry(func.__name__, func, lambda: func))


def register_class(cls: type) -> None:
    """Register the public methods of ``cls``; instance methods need its one instance."""
    holder: dict[str, object] = {}
    original_init = cls.__init__  # type: ignore[misc]

    @functools.wraps(original_init)
    def __init__(self: object, *args: object, **kwargs: object) -> None:
        if "instance" in holder and holder["instance"] is not self:
            raise InitializationError(
                f"Only one callback instance of {cls.__name__!r} should be created: its instance methods "
                "are callbacks, and a call must know which instance to run on."
            )
        holder["instance"] = self
        original_init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]

    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, staticmethod):
            REGISTRY.add(_entry(name, raw.__func__, functools.partial(getattr, cls, name)))
        elif isinstance(raw, classmethod):
            REGISTRY.add(_entry(name, raw.__func__, functools.partial(getattr, cls, name), skip_first=True))
        elif inspect.isfunction(raw):
            _check_g(raw)

            def resolve(method: str = name) -> UserFunction:
                if "instance" not in holder:
                    raise InitializationError(
                        f"Instance of {cls.__name__!r} is not initialized yet. Create the instance or mark "
                        f"method {method!r} as classmethod or staticmethod."
                    )
                bound: UserFunction = getattr(holder["instance"], method)
                return bound

            REGISTRY.add(_entry(name, raw, resolve, skip_first=True))


def _check_g(func: UserFunction) -> None:
    param = inspect.signature(func).parameters.get(G_PARAMETER)
    if param is not None and param.kind not in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    ):
        raise InitializationError(
            f"callback {func.__qualname__}: parameter 'g' receives the Global and must be a normal or "
            "keyword-only parameter"
        )
