"""Benchmark node for daffi from this repository (the controller is ``python -m daffi_controller``).

``--transport grpc|socket`` is passed to ``Global(transport=...)``; the harness gives the
controller the same ``--transport`` (both sides must use the same).

W2 keeps 64 calls in flight with ``BG`` futures from one thread (``--params '{"inflight": "bg"}'``,
the default) or with 64 threads making ``FG`` calls (``"threads"``).
"""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

from daffi import BG, BROADCAST, FG, STREAM, AsyncResult, Global, callback

from bench import common


def _connection(addr: common.Address) -> dict[str, Any]:
    if addr.is_unix:
        return {"unix_sock_path": addr.path}
    return {"host": addr.host, "port": addr.port}


class DaffiAdapter(common.Adapter):
    def __init__(self, addr: common.Address, name: str, transport: str | None, inflight: str = "bg") -> None:
        super().__init__(addr, name)
        self.inflight_mode = inflight
        self.g = Global(process_name=name, transport=transport, **_connection(addr))

    def wait_callees(self, names: list[str], timeout: float) -> None:
        for name in names:
            self.g.wait_process(name, timeout=timeout)

    def add(self, a: int, b: int) -> int:
        result: int = self.g.call.add(a, b) & FG
        return result

    def echo(self, data: bytes) -> bytes:
        result: bytes = self.g.call.echo(data) & FG
        return result

    def stream(self, n: int) -> int:
        self.g.call.sink(range(n)) & STREAM
        confirmed: int = self.g.call.count() & FG
        return confirmed

    def broadcast(self, x: int) -> dict[str, Any]:
        result: dict[str, Any] = self.g.call.bump(x) & BROADCAST
        return result

    def inflight(self, total: int, window: int) -> int:
        if self.inflight_mode == "threads":
            return common.threaded_inflight(self.add, total, window)
        # One thread, a sliding window of BG futures.
        pending: deque[tuple[int, AsyncResult[int]]] = deque()
        ok = 0
        for i in range(total):
            if len(pending) >= window:
                j, future = pending.popleft()
                ok += future.get() == j + 1
            pending.append((i, self.g.call.add(i, 1) & BG))
        while pending:
            j, future = pending.popleft()
            ok += future.get() == j + 1
        return ok

    def close(self) -> None:
        self.g.stop()


def main(argv: list[str] | None = None) -> int:
    args = common.parse(argv)
    addr = common.Address(args.addr)
    if args.role == "server":
        raise SystemExit("the daffi controller is `python -m daffi_controller`")
    if args.role == "callee":
        for func in common.CALLBACKS:
            callback(func)
        g = Global(process_name=args.name, transport=args.transport, **_connection(addr))
        common.announce_ready()
        g.join()
        return 0
    import json

    inflight = json.loads(args.params).get("inflight", "bg")
    return common.run_caller(lambda a, n: DaffiAdapter(a, n, args.transport, inflight), args)


if __name__ == "__main__":
    sys.exit(main())
