"""A node with callbacks for edge cases of calls. Prints ``READY <name>``.

Run: python calls_extra.py --name NAME (--host H --port P | --unix-sock-path S)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from daffi import callback
from node_main import options, serve

parser = options(__doc__)
args = parser.parse_args()
NAME: str = args.name

RECEIVED: list[Any] = []
LOCK = threading.Lock()


@callback
def fails_midway(n: int) -> Iterator[int]:
    """Yields ``n`` items, then raises."""
    yield from range(n)
    raise KeyError("generator gave up")


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("Unpicklable refuses to be pickled")


@callback
def unpicklable() -> Any:
    """A value that cannot be serialized."""
    return Unpicklable()


@callback
def slow_collect(item: Any) -> None:
    """A slow stream receiver."""
    time.sleep(0.001)
    with LOCK:
        RECEIVED.append(item)


@callback
def slow_received() -> list[Any]:
    with LOCK:
        return list(RECEIVED)


@callback
def kw_only(a: int, *, scale: int = 1, **extra: Any) -> dict[str, Any]:
    return {"a": a * scale, "extra": extra}


@callback
def exits(code: int) -> None:
    """Raises SystemExit in a callback thread: the node must survive it."""
    raise SystemExit(code)


@callback
def interrupts() -> None:
    raise KeyboardInterrupt


@callback
async def async_exits(code: int) -> None:
    """Raises SystemExit on the async callback loop: the node must survive it."""
    raise SystemExit(code)


@callback
async def async_alive() -> str:
    return NAME


@callback
def hang_noisy() -> None:
    """Prints ``HANGING`` (so a test knows the call arrived), then never returns."""
    print("HANGING", flush=True)
    threading.Event().wait()


@callback
def alive() -> str:
    return NAME


@callback
def varargs(*items: Any) -> list[Any]:
    return list(items)


if __name__ == "__main__":
    serve(args)
