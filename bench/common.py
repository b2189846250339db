"""What every benchmark node script shares: the command line, the workloads, the result line.

Stdlib only: this module is imported in each benchmark environment (the workspace daffi,
daffi 2.2.1, daffi 3.0.1), where only the framework under test is installed.

A node script (``bench/node_*.py``, ``bench/relay.py``) implements :class:`Adapter` for its
framework and calls :func:`main`. The harness starts it as

    python -m bench.node_X server --addr tcp:127.0.0.1:PORT      # prints READY when listening
    python -m bench.node_X callee --addr ... --name callee-1     # prints READY when connected
    python -m bench.node_X caller --addr ... --workload w1 --params '{...}'

and the caller prints one line ``RESULT {json}``. daffi from this repository (``bench.node_daffi``)
also gets ``--transport grpc|socket``, the transport its controller was started with.
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

RESULT_PREFIX = "RESULT "
READY_LINE = "READY"


class Address:
    """``tcp:HOST:PORT`` or ``unix:PATH``."""

    def __init__(self, text: str) -> None:
        kind, _, rest = text.partition(":")
        if kind == "tcp":
            host, _, port = rest.rpartition(":")
            self.kind = "tcp"
            self.host = host
            self.port = int(port)
            self.path = ""
        elif kind == "unix":
            self.kind = "unix"
            self.host = ""
            self.port = 0
            self.path = rest
        else:
            raise ValueError(f"bad address {text!r}")

    @property
    def is_unix(self) -> bool:
        return self.kind == "unix"


# --- the callbacks every callee offers ------------------------------------------------------


class Counter:
    """The items a callee received through the one-way stream (W4)."""

    def __init__(self) -> None:
        self.value = 0
        self.lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self.lock:
            self.value += n


RECEIVED = Counter()


def add(a: int, b: int) -> int:
    return a + b


def echo(data: bytes) -> bytes:
    return data


def sink(item: int) -> None:
    RECEIVED.add()


def count() -> int:
    return RECEIVED.value


def bump(x: int) -> int:
    return x + 1


CALLBACKS: tuple[Callable[..., Any], ...] = (add, echo, sink, count, bump)


# --- the adapter a framework implements ----------------------------------------------------


class Adapter(ABC):
    """One framework's client side: connect, call, close."""

    #: how W2 keeps 64 calls in flight (written into the result)
    inflight_mode = "threads"

    def __init__(self, addr: Address, name: str) -> None:
        self.addr = addr
        self.name = name

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

    def inflight(self, total: int, window: int) -> int:
        """Make ``total`` add calls with ``window`` in flight; return how many were correct."""
        return threaded_inflight(self.add, total, window)


def threaded_inflight(call: Callable[[int, int], int], total: int, window: int) -> int:
    """``window`` threads, each making blocking calls until ``total`` are done."""
    lock = threading.Lock()
    next_index = [0]
    ok = [0]

    def worker() -> None:
        good = 0
        while True:
            with lock:
                i = next_index[0]
                if i >= total:
                    break
                next_index[0] = i + 1
            if call(i, 1) == i + 1:
                good += 1
        with lock:
            ok[0] += good

    with ThreadPoolExecutor(window) as pool:
        for future in [pool.submit(worker) for _ in range(window)]:
            future.result()
    return ok[0]


# --- the workloads (caller side) ------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


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


def wait_for_go() -> None:
    """Tell the harness this caller is ready, and block until it writes ``go``."""
    print("WAITING", flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise RuntimeError(f"expected 'go' on stdin, got {line!r}")


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
            back = a.echo(payload)  # warm-up, and the size check
            if back != payload:
                raise RuntimeError("echo returned different bytes")
            t0 = time.perf_counter()
            for _ in range(reps):
                back = a.echo(payload)
                if len(back) != size:
                    raise RuntimeError(f"echo returned {len(back)} bytes, sent {size}")
            elapsed = time.perf_counter() - t0
            out[f"{label}_MBps"] = 2 * size * reps / elapsed / 1e6
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
    parser.add_argument("--addr", required=True, help="tcp:HOST:PORT or unix:PATH")
    parser.add_argument("--name", default="caller")
    parser.add_argument("--workload", default="w1", choices=sorted(WORKLOADS))
    parser.add_argument("--params", default="{}", help="workload parameters (JSON)")
    parser.add_argument(
        "--transport", choices=["grpc", "socket", "auto"], help="daffi (this repo) only: Global(transport=...)"
    )
    return parser.parse_args(argv)


def run_caller(make: Callable[[Address, str], Adapter], args: argparse.Namespace) -> int:
    params: dict[str, Any] = json.loads(args.params)
    adapter = make(Address(args.addr), args.name)
    try:
        adapter.wait_callees(params["wait_for"], params.get("wait_timeout", 60.0))
        result = WORKLOADS[args.workload](adapter, params)
    except Exception as exc:
        print(RESULT_PREFIX + json.dumps({"error": describe(exc)}), flush=True)
        adapter.close()
        return 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    adapter.close()
    return 0


def announce_ready() -> None:
    print(READY_LINE, flush=True)


def block_until_stdin_closes() -> None:
    """Servers and callees serve until the harness closes their stdin (or signals them)."""
    for _ in sys.stdin:
        pass


def chunks(n: int) -> Iterator[int]:
    return iter(range(n))
