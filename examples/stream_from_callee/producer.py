"""Generator callbacks: the caller gets an iterator over the values they yield.

python producer.py [--port 8888]
"""

import argparse
import logging
import os
from collections.abc import Iterator

from daffi import Global, callback

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


@callback
def countdown(start: int) -> Iterator[int]:
    for value in range(start, 0, -1):
        yield value
    print(f"producer: countdown from {start} finished", flush=True)


@callback
def naturals() -> Iterator[int]:
    """An endless generator: it runs until the caller stops iterating."""
    n = 0
    try:
        while True:
            n += 1
            yield n
    finally:
        print(f"producer: naturals closed after {n} items", flush=True)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="producer", **connection)
    print("producer: ready", flush=True)
    g.join()
