"""Demo node "node-a": serves `add` and `word_lengths`, calls node-b's `multiply` and `reverse_words`.

python node_a.py [--port 8888] [--rounds 5]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import BG, FG, Global, __body_unknown__, callback, fetcher

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME, PEER = "node-a", "node-b"


# Served here, called by node-b.
@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
def word_lengths(text: str) -> dict[str, int]:
    return {word: len(word) for word in text.split()}


# Served by node-b.
@fetcher(FG)
def multiply(a: int, b: int) -> int:
    __body_unknown__(a, b)


@fetcher(BG(timeout=10))
def reverse_words(text: str) -> str:
    __body_unknown__(text)


def run(rounds: int) -> int:
    """Call node-b `rounds` times per function; return the number of wrong results."""
    failed = 0
    for i in range(1, rounds + 1):
        product = multiply(i, 7)
        ok = product == i * 7
        failed += not ok
        print(f"{NAME}: multiply({i}, 7) = {product} {'ok' if ok else 'WRONG'}", flush=True)

        text = f"round {i} of {rounds}"
        reversed_text = reverse_words(text).get(timeout=10)  # BG gives an AsyncResult
        ok = reversed_text == " ".join(reversed(text.split()))
        failed += not ok
        print(f"{NAME}: reverse_words({text!r}) = {reversed_text!r} {'ok' if ok else 'WRONG'}", flush=True)
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
        # Keep serving node-b until stopped (Ctrl-C / SIGINT / SIGTERM).
        g.join()
    except KeyboardInterrupt:  # Ctrl-C that comes before join() has started
        g.stop()
    print(f"{NAME}: stopped", flush=True)
