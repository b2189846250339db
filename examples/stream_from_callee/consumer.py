"""Consumes generator callbacks of `producer.py` as iterators.

python consumer.py [--port 8888]
"""

import argparse
import logging
import os
from collections.abc import Iterator

from daffi import FG, Global, __body_unknown__, fetcher

logging.basicConfig(level=logging.INFO)


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": args.port}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}


@fetcher(FG)
def countdown(start: int) -> Iterator[int]:
    __body_unknown__(start)


@fetcher(FG)
def naturals() -> Iterator[int]:
    __body_unknown__()


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="stream-consumer", **connection) as g:
        g.wait_process("producer", timeout=30)

        for value in countdown(5):
            print(f"countdown item: {value}", flush=True)
        print(f"countdown as list: {list(countdown(3))}", flush=True)

        # Breaking out of the loop stops the remote generator.
        taken = []
        for n in naturals():
            taken.append(n)
            if len(taken) == 5:
                break
        print(f"first naturals: {taken}", flush=True)
