"""The quickstart's callback as a service node: what stubs/publisher.py is generated from.

python publisher.py [--port 8888]
"""

import argparse
import logging
import sys
from pathlib import Path

from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@callback
def sum_of_two_numbers(a: int, b: int) -> int:
    return a + b


if __name__ == "__main__":
    _, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="publisher", **connection)
    print("publisher: ready", flush=True)
    g.join()  # serve until Ctrl-C / SIGTERM
