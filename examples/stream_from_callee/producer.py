"""Generator callbacks: the caller gets an iterator over the values they yield.

python producer.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@callback
def countdown(start: int) -> Iterator[int]:
    for value in range(start, 0, -1):
        yield value
    print(f"producer: countdown from {start} finished", flush=True)


@callback
def naturals() -> Iterator[int]:
    """An endless generator: it runs until the caller stops iterating."""
    n = 0
    try:
        while True:
            n += 1
            yield n
    finally:
        print(f"producer: naturals closed after {n} items", flush=True)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="producer", **connection)
    print("producer: ready", flush=True)
    g.join()
