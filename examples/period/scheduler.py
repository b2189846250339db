"""Schedules `tick` on the ticker node every second (PERIOD), then cancels it.

python scheduler.py [--port 8888]
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from daffi import PERIOD, Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

# Typed fetchers generated from the running services (`hatch run stubs`).
from stubs.ticker import tick, tick_count  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=3, help="cancel after this many ticks")
    args, connection = parse_args(parser)

    with Global(process_name="scheduler", **connection) as g:
        g.wait_process("ticker", timeout=30)

        task = tick.call("heartbeat") & PERIOD(interval=1)  # runs on the ticker every second
        print(f"scheduled task {task.uuid}", flush=True)
        print(f"scheduled on ticker: {len(g.get_scheduled_tasks('ticker'))} task(s)", flush=True)

        deadline = time.monotonic() + 30
        while tick_count() < args.ticks and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"ticks before cancel: {tick_count()}", flush=True)

        task.cancel()
        print("task cancelled", flush=True)
        time.sleep(1.5)  # a tick already under way may still finish
        settled = tick_count()
        time.sleep(2.5)  # more than two intervals: no new tick may arrive
        after = tick_count()
        print(
            f"ticks after cancel: {settled} -> {after} ({'stopped' if settled == after else 'STILL RUNNING'})",
            flush=True,
        )
