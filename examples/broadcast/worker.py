"""A worker node: registers `process_item`; several workers run side by side.

python worker.py --name worker-1 [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME = "worker"


@callback
def process_item(x: int) -> str:
    print(f"{NAME}: processing {x}", flush=True)
    return f"{NAME} squared {x} = {x * x}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="process name of this worker")
    args, connection = parse_args(parser)
    NAME = args.name

    g = Global(process_name=NAME, **connection)
    print(f"{NAME}: ready", flush=True)
    g.join()  # serve until Ctrl-C / SIGTERM
    print(f"{NAME}: stopped", flush=True)
