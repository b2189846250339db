"""Execution modifiers: how a remote callback runs and how its result is awaited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar, TypeAlias

from daffi_core.errors import GlobalContextError

from daffi._durations import Duration, seconds, timestamp


def already_ran(value: Any, modifier: Any) -> Any:
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

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if v is not None}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


class FG(Modifier):
    """Run on one node and wait for the result (foreground)."""

    name = "FG"

    def __init__(self, timeout: Duration | None = None) -> None:
        self.timeout = seconds(timeout, "FG timeout")


class BG(Modifier):
    """Run on one node in the background: returns an ``AsyncResult``.

    ``timeout`` bounds the remote execution, ``eta`` delays it; with
    ``return_result=False`` the call is fire-and-forget.
    """

    name = "BG"

    def __init__(
        self, timeout: Duration | None = None, eta: Duration | None = None, return_result: bool = True
    ) -> None:
        self.timeout = seconds(timeout, "BG timeout")
        self.eta = seconds(eta, "BG eta")
        self.return_result = return_result


class BROADCAST(Modifier):
    """Run on every other node offering the callback; returns ``{process_name: result}``."""

    name = "BROADCAST"

    def __init__(
        self, timeout: Duration | None = None, eta: Duration | None = None, return_result: bool = True
    ) -> None:
        self.timeout = seconds(timeout, "BROADCAST timeout")
        self.eta = seconds(eta, "BROADCAST eta")
        self.return_result = return_result


class STREAM(Modifier):
    """Send each item of an iterable to every node offering the callback."""

    name = "STREAM"

    def __init__(self, timeout: Duration | None = None) -> None:
        self.timeout = seconds(timeout, "STREAM timeout")


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


def as_modifier(value: Any) -> Modifier:
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


__all__ = ["BG", "BROADCAST", "FG", "PERIOD", "STREAM", "Modifier", "already_ran", "as_modifier"]
