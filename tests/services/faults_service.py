"""A node for fault tests: like service.py, but ``slow`` and ``hang`` print ``BEGIN slow|hang <name>`` when they start.

The marker lets a test kill the callee (or the controller) exactly while a call is running,
without sleeping. Prints ``READY <name>`` once connected and ``STOPPED <name>`` after ``join``.

Run: python faults_service.py --name NAME (--host H --port P | --unix-sock-path S) [--controller]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import Any

from daffi import Global, callback

parser = argparse.ArgumentParser()
parser.add_argument("--name", required=True)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--unix-sock-path")
parser.add_argument("--controller", action="store_true", help="host the controller too")
args = parser.parse_args()
NAME: str = args.name


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
def whoami() -> str:
    return NAME


@callback
def slow(seconds: float) -> str:
    print(f"BEGIN slow {NAME}", flush=True)
    time.sleep(seconds)
    return NAME


@callback
def hang() -> None:
    print(f"BEGIN hang {NAME}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    address: dict[str, Any] = (
        {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}
    )
    g = Global(process_name=NAME, init_controller=args.controller, **address)
    print(f"READY {NAME}", flush=True)
    g.join()
    print(f"STOPPED {NAME}", flush=True)
