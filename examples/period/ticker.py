"""The callee of a periodic task: `tick` is run by the scheduler on this node.

python ticker.py [--port 8888]
"""

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path

from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

ticks: list[float] = []
lock = threading.Lock()


@callback
def tick(label: str) -> None:
    with lock:
        ticks.append(time.time())
        count = len(ticks)
    print(f"ticker: {label} tick #{count}", flush=True)


@callback
def tick_count() -> int:
    with lock:
        return len(ticks)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="ticker", **connection)
    print("ticker: ready", flush=True)
    g.join()
