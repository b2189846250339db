"""A node for fault tests: like service.py, but ``slow`` and ``hang`` print ``BEGIN slow|hang <name>`` when they start.

The marker lets a test kill the callee (or the controller) exactly while a call is running,
without sleeping. Prints ``READY <name>`` once connected and ``STOPPED <name>`` after ``join``.

Run: python faults_service.py --name NAME (--host H --port P | --unix-sock-path S) [--controller]
"""

from __future__ import annotations

import threading
import time

from daffi import callback
from node_main import options, serve

parser = options(__doc__)
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
    serve(args)
