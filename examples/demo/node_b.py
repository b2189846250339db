"""Demo node "node-b": serves `multiply` and `reverse_words`, calls node-a's `add` and `word_lengths`.

python node_b.py [--port 8888] [--rounds 5]
"""

import argparse
import logging
import os
import sys

from daffi import FG, Global, __body_unknown__, callback, fetcher

logging.basicConfig(level=logging.INFO)

NAME, PEER = "node-b", "node-a"


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": args.port}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}


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
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
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
