"""The callee of a periodic task: `tick` is run by the scheduler on this node.

python ticker.py [--port 8888]
"""

import argparse
import logging
import os
import threading
import time

from daffi import Global, callback

logging.basicConfig(level=logging.INFO)

ticks: list[float] = []
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
def tick(label: str) -> None:
    with lock:
        ticks.append(time.time())
        count = len(ticks)
    print(f"ticker: {label} tick #{count}", flush=True)


@callback
def tick_count() -> int:
    with lock:
        return len(ticks)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="ticker", **connection)
    print("ticker: ready", flush=True)
    g.join()
