"""Benchmark node for daffi from this repository (the controller is ``python -m daffi_controller``).

``--transport grpc|socket`` is passed to ``Global(transport=...)``; the harness gives the
controller the same ``--transport`` (both sides must use the same). ``--metrics`` serves the node's
Prometheus metrics (``Global(metrics_port=0)``, printed as ``METRICS URL``).

W2 keeps 64 calls in flight with ``BG`` futures from one thread (``--params '{"inflight": "bg"}'``,
the default) or with 64 threads making ``FG`` calls (``"threads"``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from daffi import BG, BROADCAST, FG, STREAM, Global, callback

from bench import common


def connect(args: argparse.Namespace) -> Global:
    """This process's ``Global``, with ``--transport`` and ``--metrics``."""
    metrics: dict[str, Any] = {"metrics_port": 0} if args.metrics else {}
    g = Global(process_name=args.name, transport=args.transport, **args.addr.kwargs(), **metrics)
    if args.metrics:
        print(f"METRICS http://127.0.0.1:{g.metrics_port}/metrics", flush=True)
    return g


class DaffiAdapter(common.Adapter):
    def __init__(self, args: argparse.Namespace) -> None:
        self.inflight_mode = args.params.get("inflight", "bg")
        self.g = connect(args)

    def wait_callees(self, names: list[str], timeout: float) -> None:
        for name in names:
            self.g.wait_process(name, timeout=timeout)

    def add(self, a: int, b: int) -> int:
        return self.g.call.add(a, b) & FG

    def start_add(self, a: int, b: int) -> Callable[[], int]:
        return (self.g.call.add(a, b) & BG).get

    def echo(self, data: bytes) -> bytes:
        return self.g.call.echo(data) & FG

    def stream(self, n: int) -> int:
        self.g.call.sink(range(n)) & STREAM
        return self.g.call.count() & FG

    def broadcast(self, x: int) -> dict[str, Any]:
        return self.g.call.bump(x) & BROADCAST

    def close(self) -> None:
        self.g.stop()


def callee(args: argparse.Namespace) -> None:
    for func in common.CALLBACKS:
        callback(func)
    g = connect(args)
    common.ready()
    g.join()


if __name__ == "__main__":
    sys.exit(common.main(DaffiAdapter, callee))
