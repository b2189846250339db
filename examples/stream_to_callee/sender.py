"""Streams items to every node that registered `collect` (STREAM), then asks what they got.

python sender.py --receivers 2 [--port 8888]
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
from stubs.receiver import collect, received_words  # noqa: E402

logging.basicConfig(level=logging.INFO)

SENTENCE = "the quick brown fox jumps over the lazy dog"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receivers", type=int, default=2, help="wait for receiver-1 .. receiver-N")
    args, connection = parse_args(parser)

    with Global(process_name="sender", **connection) as g:
        for i in range(1, args.receivers + 1):
            g.wait_process(f"receiver-{i}", timeout=30)

        words = SENTENCE.split()
        # Each tuple is unpacked into (word, position); a generator works as well as a list.
        collect.stream((word, position) for position, word in enumerate(words))
        print(f"streamed {len(words)} items", flush=True)

        # STREAM returns once every receiver has processed every item.
        for name, text in sorted((received_words.call() & BROADCAST).items()):
            print(f"{name} has: {text}", flush=True)
