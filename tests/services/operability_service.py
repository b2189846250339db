"""A test node for tests/node/test_operability.py. Prints ``READY <name>`` once connected.

Run: python operability_service.py --name NAME (--host H --port P | --unix-sock-path S) [--transport T]

``stuck`` never returns: it prints ``BEGIN stuck <n>`` when it starts and ``CANCELLED stuck <n>``
when its caller cancels it; ``slow_item`` takes its time over each STREAM item.
"""

from __future__ import annotations

import asyncio
import itertools
import time

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
    time.sleep(0.01)


serve(args)
