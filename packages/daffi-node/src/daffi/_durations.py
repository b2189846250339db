"""Durations and points in time given as numbers, strings, timedeltas or datetimes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TypeAlias

from daffi_core.errors import GlobalContextError

__all__ = ["Duration", "seconds", "timestamp"]

Duration: TypeAlias = "int | float | str | timedelta"
_UNITS = {
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "ns": 1e-9,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")


def seconds(value: Duration | None, what: str) -> float | None:
    """Seconds in ``value`` (``"1m24s"`` is 84.0); None stays None; negative is an error."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise GlobalContextError(f"{what} must be a duration, not {value!r}")
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        result = _parse(value, what)
    else:
        raise GlobalContextError(f"{what} must be seconds, a string like '1m24s' or a timedelta, not {value!r}")
    if result < 0:
        raise GlobalContextError(f"{what} must not be negative (got {value!r})")
    return result


def _parse(text: str, what: str) -> float:
    stripped = text.strip().lower()
    try:
        return float(stripped)
    except ValueError:
        pass
    total, pos = 0.0, 0
    while pos < len(stripped):
        match = _PART.match(stripped, pos)
        if match is None or match.group(2) not in _UNITS:
            raise GlobalContextError(f"{what}: cannot read duration {text!r} (use e.g. '5s', '1m24s', '1.5 minutes')")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise GlobalContextError(f"{what}: empty duration")
    return total


def timestamp(value: int | float | datetime, what: str) -> float:
    """A UNIX timestamp from a number or a datetime (naive datetimes are local time)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise GlobalContextError(f"{what} must be a UNIX timestamp or a datetime, not {value!r}")
