"""A trio application serving async callbacks that use trio itself.

python callee.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import trio
from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@callback
async def slow_square(x: int) -> int:
    await trio.sleep(0.2)
    return x * x


@callback
async def squares_in_parallel(numbers: list[int]) -> list[int]:
    results: dict[int, int] = {}

    async def one(i: int, n: int) -> None:
        await trio.sleep(0.1)
        results[i] = n * n

    async with trio.open_nursery() as nursery:
        for i, n in enumerate(numbers):
            nursery.start_soon(one, i, n)
    return [results[i] for i in range(len(numbers))]


async def main(connection: dict[str, Any]) -> None:
    # Created inside trio.run: async callbacks of this process run under trio.
    g = Global(process_name="trio-callee", **connection)
    print("trio-callee: ready", flush=True)
    try:
        await g.join_async()  # until g.stop() or Ctrl-C
    finally:
        g.stop()


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    try:
        trio.run(main, connection)
    except KeyboardInterrupt:  # trio delivers Ctrl-C to the main task
        pass
    print("trio-callee: stopped", flush=True)
