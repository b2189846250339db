"""Demo node "node-b": serves `multiply` and `reverse_words`, calls node-a's `add` and `word_lengths`.

python node_b.py [--port 8888] [--rounds 5]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import FG, Global, __body_unknown__, callback, fetcher

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME, PEER = "node-b", "node-a"


# Served here, called by node-a.
@callback
def multiply(a: int, b: int) -> int:
    return a * b


@callback
async def reverse_words(text: str) -> str:
    return " ".join(reversed(text.split()))


# Served by node-a.
@fetcher(FG)
def add(a: int, b: int) -> int:
    __body_unknown__(a, b)


@fetcher(FG)
def word_lengths(text: str) -> dict[str, int]:
    __body_unknown__(text)


def run(rounds: int) -> int:
    """Call node-a `rounds` times per function; return the number of wrong results."""
    failed = 0
    for i in range(1, rounds + 1):
        total = add(i, 100)
        ok = total == i + 100
        failed += not ok
        print(f"{NAME}: add({i}, 100) = {total} {'ok' if ok else 'WRONG'}", flush=True)

        text = f"daffi node {'x' * i}"
        lengths = word_lengths(text)
        ok = lengths == {word: len(word) for word in text.split()}
        failed += not ok
        print(f"{NAME}: word_lengths({text!r}) = {lengths} {'ok' if ok else 'WRONG'}", flush=True)
    return failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args, connection = parse_args(parser)
    g = Global(process_name=NAME, **connection)
    try:
        g.wait_process(PEER, timeout=30)
        failed = run(args.rounds)
    except Exception as exc:
        print(f"{NAME}: ERROR {type(exc).__name__}: {exc}", flush=True)
        g.stop()
        sys.exit(1)
    try:
        print(f"{NAME}: finished {2 * args.rounds} calls, {failed} failed", flush=True)
        # Keep serving node-a until stopped (Ctrl-C / SIGINT / SIGTERM).
        g.join()
    except KeyboardInterrupt:  # Ctrl-C that comes before join() has started
        g.stop()
    print(f"{NAME}: stopped", flush=True)
