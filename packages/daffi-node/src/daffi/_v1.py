"""The spellings of daffi 1.x, for code written for it: thin adapters onto the one mechanism.

Code written for the original daffi runs unchanged; each name here says in 1.x words what the
public API says another way, and adds no behaviour of its own. New code uses the right column:

==========================================  ==============================================
daffi 1.x                                   this package
==========================================  ==============================================
``g.call.f(...).fg(timeout)``, ``.bg()``,   ``g.call.f(...) & FG(timeout)``, ``& BG(...)``,
``.broadcast()``, ``.period()``, ``.stream()``  ``& BROADCAST(...)``, ``& PERIOD(...)``, ``& STREAM``
``f(..., __exec_modifier__=BG(eta=2))``     ``f.call(...) & BG(eta=2)``
``BG(no_return=True)``                      ``BG(return_result=False)`` (a keyword of the modifiers)
``FG(retry_policy=RetryPolicy(...))``       retrying while no node offers the callback
``get_g()``                                 the ``Global`` the process created
a local call of a callback taking ``g``     the running ``Global`` passed as ``g``
modules ``daffi.decorators``, ``daffi.exceptions``, ``daffi.remote_call``,
``daffi.execution_modifiers``, ``daffi.globals``, ``daffi.async_result``: ``from daffi import ...``
==========================================  ==============================================

``g.kill_all()`` and ``g.stop(kill_all_connected_nodes=True)`` are methods of ``Global``;
``UnableToFindCandidate`` is the ``GlobalContextError`` raised when no node offers a callback.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from daffi_core.errors import InitializationError
from daffi_core.signature import G_PARAMETER

from daffi import _node
from daffi._errors import UnableToFindCandidate
from daffi._modifiers import Modifier, as_modifier
from daffi._registry import UserFunction

__all__ = [
    "EXEC_MODIFIER_KEYWORD",
    "RetryPolicy",
    "running_global",
    "take_exec_modifier",
    "unwrapped",
    "with_g",
]

T = TypeVar("T")
F = TypeVar("F")
log = logging.getLogger("daffi")
#: The keyword a fetcher call takes its modifier from in daffi 1.x.
EXEC_MODIFIER_KEYWORD = "__exec_modifier__"
#: How long a RetryPolicy with neither stop condition retries (1.x retried forever).
DEFAULT_RETRY_SECONDS = 60.0


def take_exec_modifier(kwargs: dict[str, object]) -> Modifier | None:
    """Remove ``__exec_modifier__`` from a call's keyword arguments: the modifier it names, or None."""
    if EXEC_MODIFIER_KEYWORD not in kwargs:
        return None
    value = kwargs.pop(EXEC_MODIFIER_KEYWORD)
    if value is None:
        return None
    try:
        return as_modifier(value)
    except Exception as exc:
        raise InitializationError(f"invalid {EXEC_MODIFIER_KEYWORD}: {exc}") from None


@dataclass
class RetryPolicy:
    """Retry a call while it fails with one of ``acceptable_errors`` (by default: no node offers it yet).

    Between attempts it waits ``wait`` seconds; it stops after ``stop_after_attempt`` attempts or
    ``stop_after_delay`` seconds (with neither, after 60 s) and re-raises the last error. With
    ``str_expression`` only errors whose message contains it are retried.
    """

    acceptable_errors: type[BaseException] | tuple[type[BaseException], ...] = UnableToFindCandidate
    stop_after_attempt: int | None = None
    stop_after_delay: float | None = None
    wait: float = 5
    str_expression: str | None = None

    def __post_init__(self) -> None:
        errors = self.acceptable_errors if isinstance(self.acceptable_errors, tuple) else (self.acceptable_errors,)
        if not errors or not all(isinstance(e, type) and issubclass(e, BaseException) for e in errors):
            raise InitializationError(f"RetryPolicy.acceptable_errors takes exception classes, not {errors!r}")
        self._errors = errors
        if self.stop_after_attempt is not None and self.stop_after_attempt < 1:
            raise InitializationError("RetryPolicy.stop_after_attempt must be at least 1")
        if self.wait < 0 or (self.stop_after_delay is not None and self.stop_after_delay < 0):
            raise InitializationError("RetryPolicy.wait and stop_after_delay must not be negative")

    def retries(self, exc: BaseException) -> bool:
        """``exc`` is one to retry."""
        return isinstance(exc, self._errors) and (self.str_expression is None or self.str_expression in str(exc))

    def run(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds or the policy gives up (then its last error is raised)."""
        delay = self.stop_after_delay
        if delay is None and self.stop_after_attempt is None:
            delay = DEFAULT_RETRY_SECONDS
        deadline = None if delay is None else time.monotonic() + delay
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except BaseException as exc:
                out_of_tries = self.stop_after_attempt is not None and tries >= self.stop_after_attempt
                out_of_time = deadline is not None and time.monotonic() + self.wait > deadline
                if not self.retries(exc) or out_of_tries or out_of_time:
                    raise
                log.warning("attempt %d failed (%s); retrying in %s s", tries, exc, self.wait)
            time.sleep(self.wait)  # a retry is the caller's own thread waiting, as in 1.x


def running_global() -> object:
    """The ``Global`` running in this process (``daffi.get_g``); InitializationError when there is none."""
    g = _node.running()
    if g is None:
        raise InitializationError("no Global is running in this process: create Global(...) first")
    return g


def with_g(func: UserFunction) -> UserFunction:
    """``func`` (a callback taking ``g``) called locally gets the running ``Global`` as ``g``."""
    sig = inspect.signature(func)

    def complete(args: tuple[object, ...], kwargs: dict[str, object]) -> dict[str, object]:
        if G_PARAMETER in kwargs:
            return kwargs
        try:
            sig.bind_partial(*args, **kwargs).arguments[G_PARAMETER]
        except (KeyError, TypeError):
            return {**kwargs, G_PARAMETER: running_global()}
        return kwargs  # given positionally

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def run_async(*args: object, **kwargs: object) -> object:
            return await func(*args, **complete(args, kwargs))

        wrapper: UserFunction = run_async
    else:

        @functools.wraps(func)
        def run(*args: object, **kwargs: object) -> object:
            return func(*args, **complete(args, kwargs))

        wrapper = run
    wrapper.__daffi_callback__ = func  # type: ignore[attr-defined]
    return wrapper


def unwrapped(func: F) -> F:
    """The callback behind a ``with_g`` wrapper (itself otherwise)."""
    return getattr(func, "__daffi_callback__", func)
