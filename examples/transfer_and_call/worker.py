"""A node without callbacks of its own: it runs functions sent to it by `transfer_and_call`.

python worker.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="worker", **connection)
    print(f"worker: ready, pid={os.getpid()}", flush=True)
    g.join()
