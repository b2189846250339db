"""Execution modifiers: how a remote callback runs and how its result is awaited."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar, NoReturn, Protocol, TypeAlias, TypeVar

from daffi_core.errors import GlobalContextError

from daffi._durations import Duration, seconds, timestamp

__all__ = [
    "BG",
    "BROADCAST",
    "FG",
    "PERIOD",
    "STREAM",
    "AtTime",
    "Modifier",
    "ModifierLike",
    "Retry",
    "already_ran",
    "as_modifier",
]

T = TypeVar("T")


class Retry(Protocol):
    """How a call is retried (``daffi.RetryPolicy``, the daffi 1.x spelling: see ``daffi._v1``)."""

    def run(self, attempt: Callable[[], T]) -> T:
        """``attempt()`` until it succeeds or the policy gives up."""
        ...


def already_ran(value: object, modifier: object) -> NoReturn:
    """``value & MODIFIER`` where ``value`` is a result: the fetcher already ran with its decorator's modifier."""
    raise GlobalContextError(
        f"cannot apply {getattr(modifier, '__name__', type(modifier).__name__)} to {type(value).__name__} "
        "value: the fetcher already ran with the modifier of its decorator. To choose the modifier per call, "
        "use f.call(...) & MODIFIER (or a fetcher without a modifier in its decorator)."
    )


class _ModifierType(type):
    # `result & FG` with FG the class: Python asks the metaclass for __rand__.
    __rand__ = already_ran


class Modifier(metaclass=_ModifierType):
    """Base of the execution modifiers; usable as a class (defaults) or an instance."""

    __rand__ = already_ran

    name: ClassVar[str] = "modifier"
    timeout: float | None = None
    eta: float | None = None
    return_result: bool = True
    retry_policy: Retry | None = None

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if v is not None}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


class FG(Modifier):
    """Run on one node and wait for the result (foreground)."""

    name = "FG"

    def __init__(self, timeout: Duration | None = None, retry_policy: Retry | None = None) -> None:
        self.timeout = seconds(timeout, "FG timeout")
        if retry_policy is not None:
            self.retry_policy = retry_policy


class BG(Modifier):
    """Run on one node in the background: returns an ``AsyncResult``.

    ``timeout`` bounds the remote execution, ``eta`` delays it; with
    ``return_result=False`` (daffi 1.x: ``no_return=True``) the call is fire-and-forget.
    """

    name = "BG"

    def __init__(
        self,
        timeout: Duration | None = None,
        eta: Duration | None = None,
        return_result: bool = True,
        *,
        no_return: bool = False,
        retry_policy: Retry | None = None,
    ) -> None:
        self.timeout = seconds(timeout, "BG timeout")
        self.eta = seconds(eta, "BG eta")
        if not isinstance(return_result, bool) and hasattr(return_result, "run"):
            # daffi 1.x's order: BG(timeout, eta, retry_policy, no_return)
            return_result, retry_policy = True, return_result
        self.return_result = _flag(return_result, "BG return_result") and not no_return
        if retry_policy is not None:
            self.retry_policy = retry_policy


class BROADCAST(Modifier):
    """Run on every other node offering the callback; returns ``{process_name: result}``.

    ``return_result=False`` (daffi 1.x: ``no_return=True``) does not wait for the results.
    """

    name = "BROADCAST"

    def __init__(
        self,
        timeout: Duration | None = None,
        eta: Duration | None = None,
        return_result: bool = True,
        *,
        no_return: bool = False,
        retry_policy: Retry | None = None,
    ) -> None:
        self.timeout = seconds(timeout, "BROADCAST timeout")
        self.eta = seconds(eta, "BROADCAST eta")
        self.return_result = _flag(return_result, "BROADCAST return_result") and not no_return
        if retry_policy is not None:
            self.retry_policy = retry_policy


class STREAM(Modifier):
    """Send each item of an iterable to every node offering the callback."""

    name = "STREAM"

    def __init__(self, timeout: Duration | None = None) -> None:
        self.timeout = seconds(timeout, "STREAM timeout")


#: An execution modifier as a class (its defaults) or an instance: what ``&`` and the decorators take.
ModifierLike: TypeAlias = "type[Modifier] | Modifier"
AtTime: TypeAlias = "int | float | datetime | Iterable[int | float | datetime]"


class PERIOD(Modifier):
    """Schedule the callback on the callee: at given times, or every ``interval``.

    Exactly one of ``at_time`` (timestamps or datetimes, one or many) and
    ``interval`` (seconds or a string like ``"5s"``). Returns a ``ScheduledTask``.
    """

    name = "PERIOD"

    def __init__(self, at_time: AtTime | None = None, interval: Duration | None = None) -> None:
        if (at_time is None) == (interval is None):
            raise GlobalContextError("PERIOD takes exactly one of at_time and interval")
        self.interval = seconds(interval, "PERIOD interval")
        if self.interval is not None and self.interval <= 0:
            raise GlobalContextError("PERIOD interval must be greater than 0")
        self.at_time: list[float] | None = None
        if at_time is not None:
            values = list(at_time) if isinstance(at_time, Iterable) else [at_time]
            if not values or len(values) > 1000:
                raise GlobalContextError("PERIOD at_time takes from 1 to 1000 points in time")
            self.at_time = sorted(timestamp(v, "PERIOD at_time") for v in values)
            late = time.time() - self.at_time[0]
            if late > 0:
                raise GlobalContextError(
                    f"PERIOD at_time {self.at_time[0]:.3f} is {late:.3f} s in the past: every point in time must "
                    "be in the future (a timestamp like time.time() + 5, or a datetime)"
                )


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise GlobalContextError(f"{what} must be True or False, not {value!r}")
    return value


def as_modifier(value: object) -> Modifier:
    """A modifier instance from a modifier class or instance; anything else is an error."""
    if isinstance(value, type) and issubclass(value, Modifier) and value is not Modifier:
        if value is PERIOD:
            raise GlobalContextError("PERIOD needs arguments: PERIOD(interval=...) or PERIOD(at_time=...)")
        return value()
    if isinstance(value, Modifier) and type(value) is not Modifier:
        return value
    raise GlobalContextError(
        f"{value!r} is not an execution modifier: use FG, BG, BROADCAST, STREAM or PERIOD (class or instance)"
    )
