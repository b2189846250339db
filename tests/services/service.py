"""A test node with a known set of callbacks. Prints ``READY <name>`` once connected.

Run: python service.py --name NAME (--host H --port P | --unix-sock-path S) [--stage N] [--with-instance]
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from daffi import FG, Global, callback
from node_main import options, serve

parser = options(__doc__)
parser.add_argument("--stage", type=int, default=0, help="register stage<N> of a pipeline")
parser.add_argument("--last-stage", type=int, default=3)
parser.add_argument("--with-instance", action="store_true", help="create the Counter instance")
args = parser.parse_args()
NAME: str = args.name

STATE: dict[str, Any] = {"generator_closed": False, "generator_sent": 0}
RECEIVED: list[Any] = []
TICKS: list[float] = []


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
def whoami() -> str:
    return NAME


@callback
def echo(data: Any) -> Any:
    return data


@callback
def boom(message: str) -> None:
    raise ValueError(message)


@callback
def slow(seconds: float) -> str:
    # The BEGIN lines let a test kill this node (or the controller) exactly while a call runs.
    print(f"BEGIN slow {NAME}", flush=True)
    time.sleep(seconds)
    return NAME


@callback
def hang() -> None:
    print(f"BEGIN hang {NAME}", flush=True)
    threading.Event().wait()


@callback
def count_up(n: int) -> Iterator[int]:
    try:
        for i in range(n):
            STATE["generator_sent"] = i + 1
            yield i
    finally:
        STATE["generator_closed"] = True


@callback
def generator_state() -> dict[str, Any]:
    return dict(STATE)


@callback
def collect(a: Any, b: Any = None) -> None:
    RECEIVED.append((a, b))


@callback
def collect_one(item: Any) -> None:
    RECEIVED.append(item)


@callback
def received() -> list[Any]:
    return list(RECEIVED)


@callback
def tick() -> None:
    TICKS.append(time.time())


@callback
def ticks() -> int:
    return len(TICKS)


@callback
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@callback
def call_onward(name: str, g: Global) -> Any:
    """Calls callback ``name`` on another node through the injected Global."""
    return getattr(g.call, name)() & FG


@callback
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start

    def incr(self, n: int) -> int:
        self.value += n
        return self.value

    @staticmethod
    def version() -> str:
        return "1.0"

    @classmethod
    def kind(cls) -> str:
        return cls.__name__


if args.stage:
    stage = args.stage
    last = args.last_stage

    def make_stage() -> Any:
        def stage_fn(x: int, g: Global) -> list[str]:
            if stage == last:
                return [NAME]
            rest: list[str] = getattr(g.call, f"stage{stage + 1}")(x) & FG
            return [NAME, *rest]

        stage_fn.__name__ = stage_fn.__qualname__ = f"stage{stage}"
        return stage_fn

    callback(make_stage())


if __name__ == "__main__":
    if args.with_instance:
        Counter(10)
    serve(args)
