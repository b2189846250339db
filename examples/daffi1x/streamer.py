"""Streams numbers to every publisher through an async fetcher called from sync code, then stops.

python streamer.py --publishers 2 --count 1000 [--port 8888]
"""

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from daffi.decorators import __body_unknown__, fetcher
from daffi.execution_modifiers import STREAM
from daffi.globals import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@fetcher
async def collect(item: int) -> None:
    __body_unknown__(item)


def numbers(count: int) -> Iterator[int]:
    yield from range(count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishers", type=int, default=2, help="wait for publisher-1 .. publisher-N")
    parser.add_argument("--count", type=int, default=1000, help="how many items to stream")
    args, connection = parse_args(parser)

    g = Global(process_name="streamer", **connection)
    for i in range(1, args.publishers + 1):
        g.wait_process(f"publisher-{i}", timeout=30)

    # Every node that registered `collect` gets every item. From sync code the call returns once
    # every receiver has processed every item, so stopping right after loses nothing.
    collect(numbers(args.count)) & STREAM
    print(f"streamed {args.count} items", flush=True)
    g.stop()
