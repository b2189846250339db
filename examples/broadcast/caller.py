"""Broadcasts one call to every worker and prints the gathered results.

python caller.py --workers 3 [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import BROADCAST, Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

# Typed fetchers generated from the running services (`hatch run stubs`).
from stubs.worker import process_item  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=3, help="wait for worker-1 .. worker-N")
    args, connection = parse_args(parser)

    with Global(process_name="broadcaster", **connection) as g:
        for i in range(1, args.workers + 1):
            g.wait_process(f"worker-{i}", timeout=30)

        results = process_item.call(7) & BROADCAST  # {process_name: result} from every worker
        for name in sorted(results):
            print(f"{name} -> {results[name]}", flush=True)
        print(f"broadcast reached {len(results)} nodes", flush=True)

        # A modifier instance takes options.
        results = process_item.call(3) & BROADCAST(timeout=10)
        print(f"second broadcast: {sorted(results.values())}", flush=True)
