"""Consumes generator callbacks of `producer.py` as iterators.

python consumer.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

# Typed fetchers generated from the running services (`hatch run stubs`).
from stubs.producer import countdown, naturals  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="stream-consumer", **connection) as g:
        g.wait_process("producer", timeout=30)

        for value in countdown(5):
            print(f"countdown item: {value}", flush=True)
        print(f"countdown as list: {list(countdown(3))}", flush=True)

        # Breaking out of the loop stops the remote generator.
        taken = []
        for n in naturals():
            taken.append(n)
            if len(taken) == 5:
                break
        print(f"first naturals: {taken}", flush=True)
