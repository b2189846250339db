"""A test node for tests/node/test_operability.py. Prints ``READY <name>`` once connected.

Run: python operability_service.py --name NAME (--host H --port P | --unix-sock-path S) [--transport T]

``stuck`` never returns: it prints ``BEGIN stuck <n>`` when it starts and ``CANCELLED stuck <n>``
when its caller cancels it; ``slow_item`` takes its time over each STREAM item (and prints
``BEGIN slow_item`` at item 0); ``drip`` yields an item every 50 ms (for 30 s at most) and prints
``STOPPED drip`` when its caller stops it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

from daffi import callback
from node_main import options, serve

args = options(__doc__).parse_args()
_calls = itertools.count(1)


@callback
def add_numbers(a: int, b: int) -> int:
    return a + b


@callback
async def stuck() -> None:
    n = next(_calls)
    print(f"BEGIN stuck {n}", flush=True)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print(f"CANCELLED stuck {n}", flush=True)
        raise


@callback
def slow_item(item: int) -> None:
    if item == 0:
        print("BEGIN slow_item", flush=True)
    time.sleep(0.01)


@callback
def drip() -> Iterator[int]:
    try:
        for item in range(600):
            yield item
            time.sleep(0.05)
    except GeneratorExit:
        print("STOPPED drip", flush=True)
        raise


serve(args)
