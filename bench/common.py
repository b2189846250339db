"""What every benchmark node script shares: the command line, the workloads, the result line.

Stdlib only: this module is imported in each benchmark environment (the workspace daffi,
daffi 2.2.1, daffi 3.0.1), where only the framework under test is installed.

A node script (``bench/node_*.py``, ``bench/relay.py``) implements :class:`Adapter` for its
framework and calls :func:`main`. The harness starts it as

    python -m bench.node_X server --addr tcp:127.0.0.1:PORT      # prints READY when listening
    python -m bench.node_X callee --addr ... --name callee-1     # prints READY when connected
    python -m bench.node_X caller --addr ... --workload w1 --params '{...}'

and the caller prints one line ``RESULT {json}``. daffi from this repository (``bench.node_daffi``)
also gets ``--transport grpc|socket``, the transport its controller was started with, and ``--metrics``
(``Global(metrics_port=0)``; the node prints ``METRICS URL`` before READY).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Address:
    """``tcp:HOST:PORT`` or ``unix:PATH``."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> Address:
        kind, _, rest = text.partition(":")
        if kind == "tcp":
            host, _, port = rest.rpartition(":")
            return cls(host=host, port=int(port))
        if kind == "unix":
            return cls(path=rest)
        raise ValueError(f"bad address {text!r}")

    @property
    def is_unix(self) -> bool:
        return bool(self.path)

    def kwargs(self) -> dict[str, Any]:
        """The address as keyword arguments of the daffi versions' ``Global`` / ``Client``."""
        return {"unix_sock_path": self.path} if self.is_unix else {"host": self.host, "port": self.port}


# --- the callbacks every callee offers ------------------------------------------------------

_received = [0]  # the items a callee received through the one-way stream (W4)
_received_lock = threading.Lock()


def add(a: int, b: int) -> int:
    return a + b


def echo(data: bytes) -> bytes:
    return data


def sink(item: int) -> None:
    with _received_lock:
        _received[0] += 1


def count() -> int:
    return _received[0]


def bump(x: int) -> int:
    return x + 1


CALLBACKS: tuple[Callable[..., Any], ...] = (add, echo, sink, count, bump)


# --- the adapter a framework implements ----------------------------------------------------


class Adapter(ABC):
    """One framework's client side: connect, call, close.

    W2 keeps ``window`` calls in flight with threads making blocking calls (``inflight_mode = "threads"``)
    or, where the framework has futures, from one thread: :meth:`start_add` then returns a function that
    waits for that call's result.
    """

    #: how W2 keeps 64 calls in flight (written into the result)
    inflight_mode = "threads"

    @abstractmethod
    def wait_callees(self, names: list[str], timeout: float) -> None: ...

    @abstractmethod
    def add(self, a: int, b: int) -> int: ...

    @abstractmethod
    def echo(self, data: bytes) -> bytes: ...

    @abstractmethod
    def stream(self, n: int) -> int:
        """Send ``sink(i)`` for i in range(n) one-way; return the callee's confirmed count."""

    @abstractmethod
    def broadcast(self, x: int) -> dict[str, Any]: ...

    @abstractmethod
    def close(self) -> None: ...

    def start_add(self, a: int, b: int) -> Callable[[], int]:
        """Start ``add(a, b)`` without waiting; a function that waits for its result (futures modes only)."""
        raise NotImplementedError

    def inflight(self, total: int, window: int) -> int:
        """Make ``total`` calls ``add(i, 1)`` with ``window`` in flight; return how many were correct."""
        if self.inflight_mode == "threads":
            return threaded_inflight(self.add, total, window)
        pending: deque[tuple[int, Callable[[], int]]] = deque()  # a sliding window of futures
        ok = 0
        for i in range(total):
            if len(pending) >= window:
                j, wait = pending.popleft()
                ok += wait() == j + 1
            pending.append((i, self.start_add(i, 1)))
        return ok + sum(wait() == j + 1 for j, wait in pending)


def threaded_inflight(call: Callable[[int, int], int], total: int, window: int) -> int:
    """``window`` threads, each making blocking calls ``call(i, 1)`` until ``total`` are done."""
    lock = threading.Lock()
    indexes = iter(range(total))

    def worker(_: int) -> int:
        good = 0
        while True:
            with lock:
                i = next(indexes, None)
            if i is None:
                return good
            good += call(i, 1) == i + 1

    with ThreadPoolExecutor(window) as pool:
        return sum(pool.map(worker, range(window)))


# --- the workloads (caller side) ------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_for_go() -> None:
    """Tell the harness this caller is ready, and block until it writes ``go``."""
    print("WAITING", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise RuntimeError(f"expected 'go' on stdin, got {line!r}")


def w1(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Sequential small calls: latency p50/p99 in µs."""
    for i in range(p["warmup"]):
        if a.add(i, 1) != i + 1:
            raise RuntimeError("wrong result")
    wait_for_go()  # the harness reads the other processes' CPU time now and at the end
    samples: list[float] = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    for i in range(p["calls"]):
        t0 = clock()
        r = a.add(i, 2)
        samples.append(clock() - t0)
        if r != i + 2:
            raise RuntimeError(f"wrong result {r!r}")
    cpu = time.process_time() - cpu0
    print("MEASURED", flush=True)
    return {
        "p50_us": percentile(samples, 50) * 1e6,
        "p99_us": percentile(samples, 99) * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
        "caller_cpu_us_per_call": cpu / len(samples) * 1e6,
        "calls": len(samples),
    }


def w2(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """``calls`` small calls with ``window`` in flight from one caller: calls/s."""
    a.inflight(min(2000, p["calls"]), p["window"])  # warm-up
    t0 = time.perf_counter()
    ok = a.inflight(p["calls"], p["window"])
    elapsed = time.perf_counter() - t0
    if ok != p["calls"]:
        raise RuntimeError(f"{p['calls'] - ok} of {p['calls']} calls returned a wrong result")
    return {"calls_per_s": p["calls"] / elapsed, "elapsed_s": elapsed, "mode": a.inflight_mode}


def w3(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Echo bytes: MB/s counting request + response (1 MB = 10^6 bytes)."""
    out: dict[str, Any] = {}
    for label, size, reps in (("1MiB", p["small_size"], p["small_reps"]), ("64MiB", p["big_size"], p["big_reps"])):
        payload = os.urandom(size)
        try:
            if a.echo(payload) != payload:  # warm-up, and the content check
                raise RuntimeError("echo returned different bytes")
            t0 = time.perf_counter()
            for _ in range(reps):
                back = a.echo(payload)
                if len(back) != size:
                    raise RuntimeError(f"echo returned {len(back)} bytes, sent {size}")
            out[f"{label}_MBps"] = 2 * size * reps / (time.perf_counter() - t0) / 1e6
        except Exception as exc:
            out[f"{label}_error"] = describe(exc)
        del payload
    return out


def w4(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """One-way stream of ints, then the callee's confirmed count: items/s."""
    t0 = time.perf_counter()
    confirmed = a.stream(p["items"])
    elapsed = time.perf_counter() - t0
    if confirmed != p["items"]:
        raise RuntimeError(f"callee confirmed {confirmed} of {p['items']} items")
    return {"items_per_s": p["items"] / elapsed, "elapsed_s": elapsed, "confirmed": confirmed}


def w5(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Broadcast to every callee and gather: broadcasts/s."""
    expected = p["callees"]
    for i in range(p["warmup"]):
        got = a.broadcast(i)
        if len(got) != expected:
            raise RuntimeError(f"broadcast reached {len(got)} of {expected} callees")
    t0 = time.perf_counter()
    for i in range(p["broadcasts"]):
        got = a.broadcast(i)
        if len(got) != expected or any(v != i + 1 for v in got.values()):
            raise RuntimeError(f"bad broadcast result {got!r}")
    elapsed = time.perf_counter() - t0
    return {"broadcasts_per_s": p["broadcasts"] / elapsed, "elapsed_s": elapsed}


def w6(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """One of many callers: sequential calls for ``duration`` seconds after the harness says go."""
    a.add(0, 1)
    wait_for_go()
    deadline = time.perf_counter() + p["duration"]
    n = 0
    while time.perf_counter() < deadline:
        if a.add(n, 1) != n + 1:
            raise RuntimeError("wrong result")
        n += 1
    return {"calls": n, "duration_s": p["duration"]}


def w7(a: Adapter, p: dict[str, Any]) -> dict[str, Any]:
    """Broadcast to every idle node: latency in ms (the harness reads the controller's RSS)."""
    expected = p["callees"]
    samples: list[float] = []
    for i in range(p["warmup"] + p["broadcasts"]):
        t0 = time.perf_counter()
        got = a.broadcast(i)
        elapsed = time.perf_counter() - t0
        if len(got) != expected:
            raise RuntimeError(f"broadcast reached {len(got)} of {expected} nodes")
        if i >= p["warmup"]:
            samples.append(elapsed)
    return {"p50_ms": percentile(samples, 50) * 1e3, "max_ms": max(samples) * 1e3}


WORKLOADS: dict[str, Callable[[Adapter, dict[str, Any]], dict[str, Any]]] = {
    "w1": w1,
    "w2": w2,
    "w3": w3,
    "w4": w4,
    "w5": w5,
    "w6": w6,
    "w7": w7,
}


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


# --- the command line -----------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a benchmark node (started by the harness)")
    parser.add_argument("role", choices=["server", "callee", "caller"])
    parser.add_argument("--addr", required=True, type=Address.parse, help="tcp:HOST:PORT or unix:PATH")
    parser.add_argument("--name", default="caller")
    parser.add_argument("--workload", default="w1", choices=sorted(WORKLOADS))
    parser.add_argument("--params", default="{}", type=json.loads, help="workload parameters (JSON)")
    parser.add_argument(
        "--transport", choices=["grpc", "socket", "nats", "auto"], help="daffi (this repo) only: Global(transport=...)"
    )
    parser.add_argument("--metrics", action="store_true", help="daffi (this repo) only: Global(metrics_port=0)")
    return parser.parse_args(argv)


def ready() -> None:
    """The line the harness waits for: listening (server) or connected (callee)."""
    print("READY", flush=True)


def main(
    adapter: Callable[[argparse.Namespace], Adapter],
    callee: Callable[[argparse.Namespace], None],
    server: Callable[[argparse.Namespace], None] | None = None,
) -> int:
    """Run the role the command line names; the caller's exit status (1: the workload failed)."""
    args = parse()
    if args.role == "server":
        if server is None:
            raise SystemExit("this framework's controller is not a node script")
        server(args)
        return 0
    if args.role == "callee":
        callee(args)
        return 0
    client = adapter(args)
    try:
        client.wait_callees(args.params["wait_for"], args.params.get("wait_timeout", 60.0))
        result = WORKLOADS[args.workload](client, args.params)
    except Exception as exc:
        result = {"error": describe(exc)}
    print("RESULT " + json.dumps(result), flush=True)
    client.close()
    return 1 if "error" in result else 0
