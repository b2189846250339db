"""A trio application awaiting remote callbacks, one by one and concurrently.

python caller.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import trio
from daffi import BG, FG, Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

# Typed fetchers generated from the running services (`hatch run stubs`).
from stubs.trio_callee import slow_square, squares_in_parallel  # noqa: E402

logging.basicConfig(level=logging.INFO)


async def main(connection: dict[str, Any]) -> None:
    g = Global(process_name="trio-caller", **connection)
    try:
        await g.wait_process_async("trio-callee", timeout=30)

        print(f"slow_square(7) = {await slow_square(7)}", flush=True)

        results: dict[int, int] = {}

        async def one(x: int) -> None:
            results[x] = await slow_square(x)

        with trio.fail_after(10):  # five 0.2 s calls at once finish well before 1 s
            async with trio.open_nursery() as nursery:
                for x in range(1, 6):
                    nursery.start_soon(one, x)
        print(f"concurrent squares: {[results[x] for x in range(1, 6)]}", flush=True)

        print(f"squares_in_parallel: {await (squares_in_parallel.call([2, 3, 4]) & FG(timeout=10))}", flush=True)

        # Another modifier for the same callback: BG gives an AsyncResult.
        future = slow_square.call(9) & BG(timeout=10)
        print(f"background result: {await future.get_async()}", flush=True)
    finally:
        g.stop()


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    trio.run(main, connection)
