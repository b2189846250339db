"""A node that receives a stream: each item becomes one call of `collect(word, position)`.

python receiver.py --name receiver-1 [--port 8888]
"""

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from daffi import Global, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME = "receiver"
received: list[tuple[int, str]] = []
lock = threading.Lock()


@callback
def collect(word: str, position: int) -> None:
    with lock:
        received.append((position, word))
    print(f"{NAME}: received #{position} {word!r}", flush=True)


@callback
def received_words() -> str:
    """The words received so far, in stream order."""
    with lock:
        return " ".join(word for _, word in sorted(received))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    args, connection = parse_args(parser)
    NAME = args.name

    g = Global(process_name=NAME, **connection)
    print(f"{NAME}: ready", flush=True)
    g.join()
    print(f"{NAME}: stopped after {len(received)} items", flush=True)
