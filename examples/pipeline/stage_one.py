"""Middle stage: transforms a value and calls the next stage through the injected `g`.

python stage_one.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import FG, Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@callback
def stage_one(x: int, g: Global) -> str:
    # A parameter named `g` receives this process's Global; the caller does not pass it.
    value = x * 2 + 1
    print(f"stage-one: {x} -> {value}", flush=True)
    result: str = g.call.stage_two(value, origin=x) & FG
    return result


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="stage-one", **connection)
    print("stage-one: ready", flush=True)
    g.join()
