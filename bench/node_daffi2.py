"""Benchmark node for daffi 2.2.1 (grpc + dill), run in the ``bench-daffi2`` environment.

The controller is a ``Global(init_controller=True, init_node=False)`` process. 2.2.1 streams
through a fetcher that is a generator (each yielded item becomes one call of the remote
callback, and the call returns once the receivers confirmed the stream). Its UNIX mode takes
a directory (the socket file inside is its own), so the harness's socket path is turned into
its parent directory. W2 uses 64 threads making ``FG`` calls.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from daffi import BROADCAST, FG, Global  # type: ignore[attr-defined,unused-ignore]
from daffi.decorators import callback, fetcher  # type: ignore[import-not-found,unused-ignore]

from bench import common


def _global(addr: common.Address, name: str, **more: Any) -> Any:
    where = addr.kwargs()
    if addr.is_unix:
        where["unix_sock_path"] = os.path.dirname(addr.path)
    return Global(process_name=name, **where, **more)


def sink(items: Iterable[int]) -> Iterator[int]:
    """The stream fetcher: 2.2.1 sends each yielded item as one ``sink(item)`` call."""
    yield from items


class Daffi2Adapter(common.Adapter):
    def __init__(self, args: argparse.Namespace) -> None:
        self.g = _global(args.addr, args.name)
        self._sink = fetcher(FG)(sink)

    def wait_callees(self, names: list[str], timeout: float) -> None:
        for name in names:
            self.g.wait_process(name)

    def add(self, a: int, b: int) -> int:
        return self.g.call.add(a, b) & FG

    def echo(self, data: bytes) -> bytes:
        return self.g.call.echo(data) & FG

    def stream(self, n: int) -> int:
        self._sink(range(n))
        return self.g.call.count() & FG

    def broadcast(self, x: int) -> dict[str, Any]:
        return self.g.call.bump(x) & BROADCAST(return_result=True)

    def close(self) -> None:
        self.g.stop()


def server(args: argparse.Namespace) -> None:
    g = _global(args.addr, "controller", init_controller=True, init_node=False)
    common.ready()
    g.join()


def callee(args: argparse.Namespace) -> None:
    for func in common.CALLBACKS:
        callback(func)
    g = _global(args.addr, args.name)
    common.ready()
    g.join()


if __name__ == "__main__":
    sys.exit(common.main(Daffi2Adapter, callee, server))
