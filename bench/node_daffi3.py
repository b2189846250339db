"""Benchmark node for daffi 3.0.1 (compiled core), run in the ``bench-daffi3`` environment.

The controller is a ``Router``; callees and the caller are ``Client``s routed through it.
Calls use ``conn.rpc(...)``, broadcasts ``conn.cast(...)`` (returns ``{name: result}``). W4
uses ``stream_nowait`` (pickled ints; 3.0.1's acknowledged ``stream`` waits for one round trip
per item) and then polls the callee's ``count()`` until it reports every item or stops
growing for 5 s. W2 uses 64 threads making ``rpc`` calls (3.0.1 has no futures).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from daffi import Client, Router, SerdeFormat, callback  # type: ignore[attr-defined,unused-ignore]

from bench import common

CALL_TIMEOUT = 120


def _connection(addr: common.Address) -> dict[str, Any]:
    if addr.is_unix:
        return {"unix_sock_path": addr.path}
    return {"host": addr.host, "port": addr.port}


class Daffi3Adapter(common.Adapter):
    inflight_mode = "threads"

    def __init__(self, addr: common.Address, name: str) -> None:
        super().__init__(addr, name)
        self.client = Client(app_name=name, **_connection(addr))
        self.conn = self.client.connect()

    def wait_callees(self, names: list[str], timeout: float) -> None:
        self.conn.wait_for_members(*names, timeout=timeout, interval=0.05)

    def add(self, a: int, b: int) -> int:
        result: int = self.conn.rpc(timeout=CALL_TIMEOUT).add(a, b)
        return result

    def echo(self, data: bytes) -> bytes:
        result: bytes = self.conn.rpc(timeout=CALL_TIMEOUT).echo(data)
        return result

    def stream(self, n: int) -> int:
        self.conn.stream_nowait(serde=SerdeFormat.PICKLE).sink(iter(range(n)))
        last = -1
        last_change = time.monotonic()
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
        result: dict[str, Any] = self.conn.cast(timeout=CALL_TIMEOUT).bump(x)
        return result

    def close(self) -> None:
        self.client.stop()


def main(argv: list[str] | None = None) -> int:
    args = common.parse(argv)
    addr = common.Address(args.addr)
    if args.role == "server":
        router = Router(app_name="router", **_connection(addr))
        router.start()
        common.announce_ready()
        router.join()
        return 0
    if args.role == "callee":
        for func in common.CALLBACKS:
            callback(func)
        client = Client(app_name=args.name, **_connection(addr))
        client.connect()
        common.announce_ready()
        client.join()
        return 0
    return common.run_caller(Daffi3Adapter, args)


if __name__ == "__main__":
    sys.exit(main())
