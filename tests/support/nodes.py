"""Helpers for tests that are nodes themselves."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from daffi import Global

from tests.support.procs import Where


def caller(where: Where, **options: Any) -> Global:
    """This test process as a node named ``caller`` (use it with ``with``)."""
    return Global(process_name="caller", **where.kwargs, **options)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll a condition of another process until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s")
        time.sleep(0.02)
