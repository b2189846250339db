"""The caller of every scenario (``python -m chaos.nodes.caller ROLE ADDR ...``).

It prints ``MARK name {json}`` lines that the harness timestamps, and at the points where the
harness samples memory it waits for ``go`` on stdin. The last line is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

from daffi import BG, BROADCAST, FG, STREAM, AsyncResult, Global

from chaos.nodes.callee import blob_for
from chaos.nodes.common import connection, mark, result, wait_go


def offering(g: Global, func: str) -> int:
    """How many other nodes offer ``func`` right now."""
    return sum(1 for names in g.registered_callbacks.values() if func in names)


def wait_count(g: Global, func: str, want: int, timeout: float) -> float:
    """Poll until exactly ``want`` nodes offer ``func``; the seconds it took."""
    t0 = time.monotonic()
    while offering(g, func) != want:
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"{offering(g, func)} nodes offer {func!r} after {timeout} s, expected {want}")
        time.sleep(0.02)
    return time.monotonic() - t0


# --- nodes: broadcast to N leaves ------------------------------------------------------------


def run_broadcast(g: Global, args: argparse.Namespace) -> None:
    mark("ready")
    wait_go()  # the harness starts the leaves now
    seconds = wait_count(g, "bump", args.nodes, args.connect_timeout)
    mark("connected", nodes=args.nodes, seconds_after_go=seconds)
    wait_go()  # the harness samples the controller with every node connected
    latencies: list[float] = []
    for rep in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        answers: dict[str, int] = g.call.bump(rep) & BROADCAST(timeout=30)
        elapsed = time.perf_counter() - t0
        if len(answers) != args.nodes or any(v != rep + 1 for v in answers.values()):
            raise SystemExit(f"broadcast {rep}: {len(answers)} answers, wrong values: {answers}")
        if rep >= args.warmup:
            latencies.append(elapsed)
    mark("broadcast", reps=len(latencies))
    wait_go()  # the harness SIGKILLs every leaf now
    departed = wait_count(g, "bump", 0, args.connect_timeout)
    result(
        nodes=args.nodes,
        answers_per_broadcast=args.nodes,
        broadcasts=len(latencies),
        latency_ms_p50=statistics.median(latencies) * 1e3,
        latency_ms_min=min(latencies) * 1e3,
        latency_ms_max=max(latencies) * 1e3,
        departed_seconds=departed,
    )


# --- calls: many add() calls with a window of BG futures --------------------------------------


class Tally:
    """``add(i, 7)`` calls with a window of BG futures, and what became of each."""

    def __init__(self) -> None:
        self.issued = self.ok = self.wrong = 0
        self.raised: Counter[str] = Counter()
        self.pending: deque[tuple[int, AsyncResult[int]]] = deque()

    def settle_one(self) -> None:
        i, future = self.pending.popleft()
        try:
            value = future.get(timeout=120)
        except Exception as exc:
            self.raised[type(exc).__name__] += 1
            return
        self.ok += value == i + 7
        self.wrong += value != i + 7

    def run(self, g: Global, start: int, stop: int, window: int) -> None:
        """Calls ``start`` to ``stop``, then wait for every one."""
        for i in range(start, stop):
            if len(self.pending) >= window:
                self.settle_one()
            self.pending.append((i, g.call.add(i, 7) & BG(timeout=60)))
            self.issued += 1
        while self.pending:
            self.settle_one()

    def snapshot(self) -> dict[str, Any]:
        return {"issued": self.issued, "ok": self.ok, "wrong": self.wrong, "raised": dict(self.raised)}


def run_calls(g: Global, args: argparse.Namespace) -> None:
    g.wait_function("add", timeout=30)
    tally = Tally()
    # Probe the rate on the first calls; they count towards the total.
    probe = max(1, min(args.probe, args.calls // 10))
    t0 = time.monotonic()
    tally.run(g, 0, probe, args.window)
    rate = probe / (time.monotonic() - t0)
    fits = int(rate * args.budget) // 10_000 * 10_000
    total = max(probe * 10, min(args.calls, fits))
    mark("plan", requested=args.calls, probe=probe, total=total, probe_rate=rate, budget_seconds=args.budget)
    step = total // 10
    done = probe
    paused = 0.0
    for pct in range(10, 101, 10):
        target = step * (pct // 10) if pct < 100 else total
        tally.run(g, done, target, args.window)
        done = target
        mark("progress", pct=pct, seconds=time.monotonic() - t0 - paused, **tally.snapshot())
        t_pause = time.monotonic()
        wait_go()  # the harness samples the memory of the three processes
        paused += time.monotonic() - t_pause
    elapsed = time.monotonic() - t0 - paused
    result(
        requested=args.calls, total=total, window=args.window, seconds=elapsed, rate=total / elapsed, **tally.snapshot()
    )


# --- stream: a generator into a slow consumer -------------------------------------------------


def run_stream(g: Global, args: argparse.Namespace) -> None:
    g.wait_function("sink", timeout=30)
    produced = [0]
    size = args.blob

    def items() -> Iterator[tuple[int, bytes]]:
        for seq in range(args.items):
            produced[0] = seq + 1
            yield seq, blob_for(seq, size)

    done = threading.Event()
    leads: list[int] = []

    def watch() -> None:
        # Once a second: how far the generator is ahead of what the consumer processed.
        while not done.wait(1.0):
            try:
                seen: dict[str, Any] = g.call.stream_report() & FG(timeout=10)
            except Exception as exc:
                mark("tick", error=repr(exc))
                continue
            sent = produced[0]
            leads.append(sent - seen["received"])
            mark("tick", produced=sent, received=seen["received"])

    watcher = threading.Thread(target=watch, name="chaos-watch", daemon=True)
    mark("stream-start", items=args.items)
    t0 = time.monotonic()
    watcher.start()
    error = ""
    try:
        g.call.sink(items()) & STREAM(timeout=args.timeout)
    except Exception as exc:
        error = repr(exc)
    seconds = time.monotonic() - t0
    done.set()
    watcher.join(15)
    mark("stream-end", seconds=seconds, error=error)
    report: dict[str, Any] = g.call.stream_report() & FG(timeout=30)
    result(
        items=args.items,
        blob_bytes=size,
        produced=produced[0],
        seconds=seconds,
        rate=args.items / seconds,
        error=error,
        max_lead=max(leads, default=0),
        lead_samples=len(leads),
        receiver=report,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["broadcast", "calls", "stream"])
    parser.add_argument("addr")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--connect-timeout", type=float, default=240)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--probe", type=int, default=20_000)
    parser.add_argument("--budget", type=float, default=480, help="seconds the calls may take")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--blob", type=int, default=96, help="payload bytes per stream item")
    parser.add_argument("--timeout", type=float, default=600, help="STREAM timeout, s")
    args = parser.parse_args()
    g = Global(process_name=f"chaos-{args.role}", **connection(args.addr))
    try:
        {"broadcast": run_broadcast, "calls": run_calls, "stream": run_stream}[args.role](g, args)
    finally:
        g.stop()


if __name__ == "__main__":
    main()
