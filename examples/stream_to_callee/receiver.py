"""A node that receives a stream: each item becomes one call of `collect(word, position)`.

python receiver.py --name receiver-1 [--port 8888]
"""

import argparse
import logging
import os
import threading

from daffi import Global, callback

logging.basicConfig(level=logging.INFO)

NAME = "receiver"
received: list[tuple[int, str]] = []
lock = threading.Lock()


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
