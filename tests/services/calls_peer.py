"""A node whose ``get_process_name`` is both a callback and a fetcher. Prints ``READY <name>``.

``ask_peer()`` calls ``get_process_name`` through the fetcher: it must reach the other node's copy.

Run: python calls_peer.py --name NAME (--host H --port P | --unix-sock-path S)
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from daffi import FG, Global, callback, callback_and_fetcher

parser = argparse.ArgumentParser()
parser.add_argument("--name", required=True)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--unix-sock-path")
args = parser.parse_args()
NAME: str = args.name


@callback_and_fetcher
def get_process_name() -> str:
    return NAME


@callback
def ask_peer() -> str:
    """The value of another node's ``get_process_name`` (never this node's own copy)."""
    value: str = get_process_name() & FG
    return value


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    address: dict[str, Any] = (
        {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}
    )
    g = Global(process_name=NAME, **address)
    print(f"READY {NAME}", flush=True)
    g.join()
    print(f"STOPPED {NAME}", flush=True)
