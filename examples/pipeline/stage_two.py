"""Last stage of the pipeline: formats a value.

python stage_two.py [--port 8888]
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


@callback
def stage_two(value: int, origin: int) -> str:
    print(f"stage-two: formatting {value} (from {origin})", flush=True)
    return f"{origin} -> x2 -> +1 = {value}"


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="stage-two", **connection)
    print("stage-two: ready", flush=True)
    g.join()
