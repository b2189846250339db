"""Feeds values into the pipeline client -> stage-one -> stage-two and prints the results.

python client.py [--port 8888]
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
from stubs.stage_one import stage_one  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="pipeline-client", **connection) as g:
        g.wait_process("stage-one", timeout=30)
        g.wait_process("stage-two", timeout=30)
        for x in (1, 5, 20):
            print(f"pipeline result: {stage_one(x)}", flush=True)
