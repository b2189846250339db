"""Benchmark node for daffi 2.2.1 (grpc + dill), run in the ``bench-daffi2`` environment.

The controller is a ``Global(init_controller=True, init_node=False)`` process. 2.2.1 streams
through a fetcher that is a generator (each yielded item becomes one call of the remote
callback, and the call returns once the receivers confirmed the stream). Its UNIX mode takes
a directory (the socket file inside is its own), so the harness's socket path is turned into
its parent directory. W2 uses 64 threads making ``FG`` calls.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from daffi import BROADCAST, FG, Global  # type: ignore[attr-defined,unused-ignore]
from daffi.decorators import callback, fetcher  # type: ignore[import-not-found,unused-ignore]

from bench import common


def _connection(addr: common.Address) -> dict[str, Any]:
    if addr.is_unix:
        return {"unix_sock_path": os.path.dirname(addr.path)}
    return {"host": addr.host, "port": addr.port}


def sink(items: Iterable[int]) -> Iterator[int]:
    """The stream fetcher: 2.2.1 sends each yielded item as one ``sink(item)`` call."""
    yield from items


class Daffi2Adapter(common.Adapter):
    inflight_mode = "threads"

    def __init__(self, addr: common.Address, name: str) -> None:
        super().__init__(addr, name)
        self.g = Global(process_name=name, **_connection(addr))
        self._sink = fetcher(FG)(sink)

    def wait_callees(self, names: list[str], timeout: float) -> None:
        for name in names:
            self.g.wait_process(name)

    def add(self, a: int, b: int) -> int:
        result: int = self.g.call.add(a, b) & FG
        return result

    def echo(self, data: bytes) -> bytes:
        result: bytes = self.g.call.echo(data) & FG
        return result

    def stream(self, n: int) -> int:
        self._sink(range(n))
        confirmed: int = self.g.call.count() & FG
        return confirmed

    def broadcast(self, x: int) -> dict[str, Any]:
        result: dict[str, Any] = self.g.call.bump(x) & BROADCAST(return_result=True)
        return result

    def close(self) -> None:
        self.g.stop()


def main(argv: list[str] | None = None) -> int:
    args = common.parse(argv)
    addr = common.Address(args.addr)
    if args.role == "server":
        g = Global(process_name="controller", init_controller=True, init_node=False, **_connection(addr))
        common.announce_ready()
        g.join()
        return 0
    if args.role == "callee":
        for func in common.CALLBACKS:
            callback(func)
        g = Global(process_name=args.name, **_connection(addr))
        common.announce_ready()
        g.join()
        return 0
    return common.run_caller(Daffi2Adapter, args)


if __name__ == "__main__":
    sys.exit(main())
