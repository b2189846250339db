"""Benchmark node for daffi 3.0.1 (compiled core), run in the ``bench-daffi3`` environment.

The controller is a ``Router``; callees and the caller are ``Client``s routed through it.
Calls use ``conn.rpc(...)``, broadcasts ``conn.cast(...)`` (returns ``{name: result}``). W4
uses ``stream_nowait`` (pickled ints; 3.0.1's acknowledged ``stream`` waits for one round trip
per item) and then polls the callee's ``count()`` until it reports every item or stops
growing for 5 s. W2 uses 64 threads making ``rpc`` calls (3.0.1 has no futures).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from daffi import Client, Router, SerdeFormat, callback  # type: ignore[attr-defined,unused-ignore]

from bench import common

CALL_TIMEOUT = 120


class Daffi3Adapter(common.Adapter):
    def __init__(self, args: argparse.Namespace) -> None:
        self.client = Client(app_name=args.name, **args.addr.kwargs())
        self.conn = self.client.connect()

    def wait_callees(self, names: list[str], timeout: float) -> None:
        self.conn.wait_for_members(*names, timeout=timeout, interval=0.05)

    def add(self, a: int, b: int) -> int:
        return self.conn.rpc(timeout=CALL_TIMEOUT).add(a, b)

    def echo(self, data: bytes) -> bytes:
        return self.conn.rpc(timeout=CALL_TIMEOUT).echo(data)

    def stream(self, n: int) -> int:
        self.conn.stream_nowait(serde=SerdeFormat.PICKLE).sink(iter(range(n)))
        last, last_change = -1, time.monotonic()
        while True:
            confirmed: int = self.conn.rpc(timeout=CALL_TIMEOUT).count()
            if confirmed >= n:
                return confirmed
            if confirmed != last:
                last, last_change = confirmed, time.monotonic()
            elif time.monotonic() - last_change > 5:
                return confirmed
            time.sleep(0.001)

    def broadcast(self, x: int) -> dict[str, Any]:
        return self.conn.cast(timeout=CALL_TIMEOUT).bump(x)

    def close(self) -> None:
        self.client.stop()


def server(args: argparse.Namespace) -> None:
    router = Router(app_name="router", **args.addr.kwargs())
    router.start()
    common.ready()
    router.join()


def callee(args: argparse.Namespace) -> None:
    for func in common.CALLBACKS:
        callback(func)
    client = Client(app_name=args.name, **args.addr.kwargs())
    client.connect()
    common.ready()
    client.join()


if __name__ == "__main__":
    sys.exit(common.main(Daffi3Adapter, callee, server))
