"""Stops every connected node, then itself: ``g.stop(kill_all_connected_nodes=True)``.

python shutdown.py --publishers 2 [--port 8888]

Each node asked stops as on SIGTERM (its ``g.join()`` returns) and logs who asked.
"""

import argparse
import logging
import sys
from pathlib import Path

from daffi.globals import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishers", type=int, default=2, help="wait for publisher-1 .. publisher-N")
    args, connection = parse_args(parser)

    g = Global(process_name="shutdown", **connection)
    for i in range(1, args.publishers + 1):
        g.wait_process(f"publisher-{i}", timeout=30)

    print(f"stopping {sorted(g.registered_callbacks)}", flush=True)
    g.stop(kill_all_connected_nodes=True)
    print("every connected node was asked to stop", flush=True)
