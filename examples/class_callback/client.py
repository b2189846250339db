"""Calls the methods of the Inventory class registered in service.py.

python client.py [--port 8888]
"""

import argparse
import logging
import os

from daffi import FG, DaffiError, Global

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


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="inventory-client", **connection) as g:
        g.wait_process("inventory-service", timeout=30)

        print(f"apples: {g.call.add_items('apples', 3) & FG}", flush=True)
        print(f"apples: {g.call.add_items('apples', count=4) & FG}", flush=True)
        print(f"pears: {g.call.add_items('pears', 2) & FG}", flush=True)
        print(f"report: {g.call.stock_report() & FG}", flush=True)
        print(f"version: {g.call.inventory_version() & FG}", flush=True)
        print(f"kind: {g.call.inventory_kind() & FG}", flush=True)
        try:
            g.call.no_such_method() & FG
        except DaffiError as exc:
            print(f"unknown method: {type(exc).__name__}", flush=True)
