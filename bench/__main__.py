"""``hatch run bench:all`` — every workload on daffi (socket and gRPC transports) and the anchors; writes the report.

    python -m bench [--workloads w1,w2] [--reps 3] [--quick] [--report-only] [--no-profile]
                    [--impls daffi-socket,daffi-grpc,daffi2,daffi3,relay] [--previous FILE]
    python -m bench --metrics-ab [--reps 5] [--quick]    # W2 with the metrics endpoints off and on

daffi from this repository runs as two implementations, each with its transport given
explicitly to both sides (``daffi_controller --transport X``, ``Global(transport=X)``):
``daffi-socket`` on TCP and UNIX, and ``daffi-grpc`` on TCP and, for W1 only, UNIX.

Raw results go to ``bench/results/latest.json`` (the metrics A/B run to ``metrics.json``); the tables of
``docs/benchmarks.md`` (between its markers: the page's prose is edited by hand) and ``docs/benchmarks.png``
are filled from them. A ``--quick`` run writes its results to the temporary folder and no page unless
``--output`` names one. A full run keeps the gRPC-transport rows of the run it replaces (or of
``--previous FILE``) under ``previous`` in latest.json, so the report can say whether the gRPC
transport got slower. Run from the ``bench`` hatch environment (the anchors' environments
``bench-daffi2`` and ``bench-daffi3`` are created on first use).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench import harness, report
from bench.profile import pyspy_profiler

RESULTS = harness.ROOT / "bench" / "results"
PAGE = harness.ROOT / "docs" / "benchmarks.md"
SCALING_PAGE = harness.ROOT / "docs" / "scaling.md"

PARAMS: dict[str, dict[str, Any]] = {
    "w1": {"warmup": 200, "calls": 2000},
    "w2": {"calls": 20000, "window": 64},
    "w3": {"small_size": 1 << 20, "small_reps": 200, "big_size": 64 << 20, "big_reps": 5},
    "w4": {"items": 100000},
    "w5": {"warmup": 20, "broadcasts": 500, "callees": 4},
    "w6": {"duration": 5.0, "callers": 32, "callees": 4},
    "w7": {"warmup": 2, "broadcasts": 20, "callees": 100},
}
#: what ``--quick`` makes smaller
QUICK_CHANGES: dict[str, dict[str, Any]] = {
    "w1": {"warmup": 20, "calls": 200},
    "w2": {"calls": 2000},
    "w3": {"small_reps": 10, "big_reps": 1},
    "w4": {"items": 5000},
    "w5": {"warmup": 2, "broadcasts": 30},
    "w6": {"duration": 1.0, "callers": 8},
    "w7": {"warmup": 1, "broadcasts": 3, "callees": 20},
}
QUICK = {w: {**p, **QUICK_CHANGES[w]} for w, p in PARAMS.items()}


def timeout(workload: str) -> float:
    """The bound of one cell, seconds (W7 starts 100 processes on 2 cores)."""
    return 180.0 if workload == "w7" else 120.0


# Slow anchor cells run once, to keep the whole run under 30 minutes (said on the page).
ONCE = {("daffi2", "w2"), ("daffi2", "w4"), ("daffi2", "w7"), ("daffi3", "w7"), ("relay", "w7")}

# Anchors run over TCP; over UNIX only W1 (to record which of them can).
ANCHOR_UNIX_WORKLOADS = {"w1"}

# daffi from this repo: the socket transport on TCP and UNIX for every workload; the gRPC
# transport on TCP for every workload and on UNIX only for W1 (on UNIX the default, "auto", is
# the socket transport, and a full gRPC-UNIX column would push the run past its budget).
DAFFI_IMPLS = ("daffi-socket", "daffi-grpc")
GRPC_UNIX_WORKLOADS = {"w1"}

#: Extra W1 cells for the time breakdown: (row key, impl, wrapper, env).
W1_VARIANTS: tuple[tuple[str, str, list[str], dict[str, str]], ...] = (
    ("daffi-socket-tcp-pinned", "daffi-socket", ["taskset", "-c", "0"], {}),
    ("daffi-grpc-tcp-pinned", "daffi-grpc", ["taskset", "-c", "0"], {}),
    ("daffi-grpc-tcp-poll", "daffi-grpc", [], {"GRPC_POLL_STRATEGY": "poll"}),
    ("relay-tcp-pinned", "relay", ["taskset", "-c", "0"], {}),
    ("daffi3-tcp-pinned", "daffi3", ["taskset", "-c", "0"], {}),
)
# One py-spy profile of W1 per daffi transport, on TCP.
PROFILED = ("daffi-socket", "daffi-grpc")
#: W1-W5 against one controller, for its memory: (impl, transport)
SOAKED: tuple[tuple[str, str], ...] = (("daffi-socket", "tcp"), ("daffi-socket", "unix"), ("daffi-grpc", "tcp"))
SOAKED += tuple((anchor, "tcp") for anchor in ("daffi2", "daffi3", "relay"))

BUDGET_S = 28 * 60
SKIPPED: dict[str, Any] = {"error": "skipped: time budget of the run used up"}


def cells_for(workload: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(row key, impl, transport, extra params) of one workload."""
    rows: list[tuple[str, str, str, dict[str, Any]]] = []
    for daffi in DAFFI_IMPLS:
        for transport in ("tcp", "unix"):
            if daffi == "daffi-grpc" and transport == "unix" and workload not in GRPC_UNIX_WORKLOADS:
                continue
            if workload == "w2":
                rows.append((f"{daffi}-{transport}-bg", daffi, transport, {"inflight": "bg"}))
                rows.append((f"{daffi}-{transport}-threads", daffi, transport, {"inflight": "threads"}))
            else:
                rows.append((f"{daffi}-{transport}", daffi, transport, {}))
    for impl in ("daffi2", "daffi3", "relay"):
        rows.append((f"{impl}-tcp", impl, "tcp", {}))
        if workload in ANCHOR_UNIX_WORKLOADS:
            rows.append((f"{impl}-unix", impl, "unix", {}))
    return rows


def parse_impls(text: str) -> set[str]:
    """``--impls``: keys of harness.IMPLS; ``daffi`` means both daffi transports."""
    impls: set[str] = set()
    for name in (i.strip() for i in text.split(",")):
        if name == "daffi":
            impls.update(DAFFI_IMPLS)
        elif name in harness.IMPLS:
            impls.add(name)
        elif name:
            raise SystemExit(f"--impls: unknown {name!r} (known: daffi, {', '.join(harness.IMPLS)})")
    return impls


def log(text: str) -> None:
    print(text, flush=True)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def measure(what: str, cell: harness.Cell) -> dict[str, Any]:
    """One repetition of a cell, logged."""
    t0 = time.monotonic()
    result = harness.run_cell(cell)
    result["wall_s"] = time.monotonic() - t0
    log(f"{what}: {report.brief(cell.workload, result)} ({result['wall_s']:.1f} s)")
    return result


def metrics_ab(params: dict[str, Any], reps: int) -> dict[str, Any]:
    """W2 (BG futures) on daffi socket over TCP with every ``/metrics`` endpoint off and on, in alternate
    order rep after rep (off-on, on-off, ...), so that both sides see the same minutes of the machine."""
    ab: dict[str, Any] = {"started": now(), "params": params, "runs": {"off": [], "on": []}}
    for rep in range(reps):
        for side in ("off", "on") if rep % 2 == 0 else ("on", "off"):
            w2 = params | {"inflight": "bg"}
            cell = harness.Cell("w2", "daffi-socket", "tcp", w2, timeout("w2"), metrics=side == "on")
            ab["runs"][side].append(measure(f"w2 metrics {side} rep {rep + 1}", cell))
    return ab


#: The NATS comparison (``--nats``): (row, implementation, nats-servers), next to the socket transport.
NATS_ROWS = (
    ("daffi socket, TCP", "daffi-socket", 1),
    ("NATS, one server", "daffi-nats", 1),
    ("NATS, 3-server cluster", "daffi-nats", 3),
)
NATS_WORKLOADS = ("w1", "w2", "w5")


def nats_compare(params: dict[str, dict[str, Any]], reps: int) -> dict[str, Any]:
    """W1, W2 (BG futures) and W5 on NATS (one server, a 3-server cluster) and on the socket transport, the rows
    taking turns within each repetition so that all see the same minutes of the machine."""
    data: dict[str, Any] = {"started": now(), "params": {w: params[w] for w in NATS_WORKLOADS}, "runs": {}}
    for rep in range(reps):
        for row, impl, servers in NATS_ROWS:
            for workload in NATS_WORKLOADS:
                p = params[workload] | ({"inflight": "bg"} if workload == "w2" else {})
                cell = harness.Cell(workload, impl, "tcp", p, timeout(workload), servers=servers)
                result = measure(f"{workload} {row} rep {rep + 1}", cell)
                data["runs"].setdefault(row, {}).setdefault(workload, []).append(result)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="w1,w2,w3,w4,w5,w6,w7")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--impls",
        default="daffi-socket,daffi-grpc,daffi2,daffi3,relay",
        help="which implementations to run (daffi = daffi-socket,daffi-grpc)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repetition (a smoke test)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile and W1 variants")
    parser.add_argument("--no-soak", action="store_true", help="skip the one-controller RSS run")
    parser.add_argument("--metrics-ab", action="store_true", help="only W2 with the metrics endpoints off and on")
    parser.add_argument("--nats", action="store_true", help="only W1, W2, W5 on NATS next to the socket transport")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the saved results")
    parser.add_argument("--output", help="the page whose tables to fill (default docs/benchmarks.md; none for --quick)")
    parser.add_argument(
        "--previous",
        help="results JSON whose gRPC-transport rows the report compares with (default: the latest.json"
        " this run replaces)",
    )
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    saved = Path(tempfile.gettempdir()) / "daffi-bench-quick" if args.quick else RESULTS
    saved.mkdir(exist_ok=True)
    latest, metrics_file = saved / "latest.json", saved / "metrics.json"
    page = Path(args.output) if args.output else None if args.quick else PAGE
    if args.nats:
        compared = nats_compare(QUICK if args.quick else PARAMS, 1 if args.quick else args.reps)
        (saved / "nats.json").write_text(json.dumps(compared, indent=1) + "\n")
        scaling = Path(args.output) if args.output else None if args.quick else SCALING_PAGE
        if scaling is not None:
            report.write_nats(compared, scaling)
        log(f"results in {saved}" + (f", tables filled in {scaling}" if scaling else ""))
        return 0
    if args.metrics_ab:
        ab = metrics_ab((QUICK if args.quick else PARAMS)["w2"], 1 if args.quick else args.reps)
        metrics_file.write_text(json.dumps(ab, indent=1) + "\n")
    if args.report_only or args.metrics_ab:  # the page again, from the saved results
        data = json.loads(latest.read_text()) if latest.exists() else {}
        if args.previous:  # a baseline chosen afterwards is kept with the results it is compared with
            data["previous"] = report.previous_run(json.loads(Path(args.previous).read_text()))
            latest.write_text(json.dumps(data, indent=1) + "\n")
    else:
        data = run(args, latest)
    if page is not None:
        report.write(data, page, json.loads(metrics_file.read_text()) if metrics_file.exists() else None)
    log(f"results in {saved}" + (f", tables filled in {page}" if page else ""))
    return 0


def run(args: argparse.Namespace, latest: Path) -> dict[str, Any]:
    """The workloads, then the W1 variants and profiles, then the one-controller memory run."""
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    impls = parse_impls(args.impls)
    previous_file = Path(args.previous) if args.previous else RESULTS / "latest.json"
    previous = report.previous_run(json.loads(previous_file.read_text())) if previous_file.exists() else None
    params = QUICK if args.quick else PARAMS
    reps = 1 if args.quick else args.reps
    started = time.monotonic()
    data: dict[str, Any] = {
        "started": now(),
        "quick": args.quick,
        "reps": reps,
        "reps_override": {f"{impl}/{workload}": 1 for impl, workload in sorted(ONCE)},
        "grpc_unix_workloads": sorted(GRPC_UNIX_WORKLOADS),
        "params": {w: params[w] for w in workloads},
        "cells": {},
        "variants": {},
        "profiles": {},
        **({"previous": previous} if previous is not None else {}),
    }
    log("preparing environments (bench, bench-daffi2, bench-daffi3) ...")
    for name in {impl.env for impl in harness.IMPLS.values()}:
        harness.python_for(name)
    data["machine"] = report.machine_info()

    def over_budget() -> bool:
        return time.monotonic() - started > BUDGET_S

    for workload in workloads:
        rows = [r for r in cells_for(workload) if r[1] in impls]
        for rep in range(reps):
            for key, impl, transport, extra in rows:
                if rep and (impl, workload) in ONCE:
                    continue
                slot = data["cells"].setdefault(workload, {}).setdefault(key, [])
                cell = harness.Cell(workload, impl, transport, params[workload] | extra, timeout(workload))
                slot.append(dict(SKIPPED) if over_budget() else measure(f"{workload} {key} rep {rep + 1}", cell))
        latest.write_text(json.dumps(data, indent=1))

    if "w1" in workloads and not args.no_profile:
        for key, impl, wrapper, env in W1_VARIANTS:
            for rep in range(reps if impl in impls else 0):
                if over_budget():
                    break
                cell = harness.Cell("w1", impl, "tcp", params["w1"], timeout("w1"), env, wrapper)
                data["variants"].setdefault(key, []).append(measure(f"w1 variant {key} rep {rep + 1}", cell))
        for impl in PROFILED:
            if impl not in impls or over_budget():
                continue
            duration = 2.0 if args.quick else 6.0
            profiler = pyspy_profiler(RESULTS / "pyspy" / impl, duration)
            prof = params["w1"] | {"calls": int(duration * 2500)}
            cell = harness.Cell("w1", impl, "tcp", prof, timeout("w1"), profile=profiler)
            data["profiles"][f"{impl}-tcp"] = measure(f"w1 profile {impl}-tcp", cell) | {"duration_s": duration}
        latest.write_text(json.dumps(data, indent=1))

    if not args.no_soak and set(workloads) >= {"w1", "w2", "w3", "w4", "w5"}:
        data["soak"] = {}
        for impl, transport in (s for s in SOAKED if s[0] in impls):
            key = f"{impl}-{transport}"
            result = dict(SKIPPED) if over_budget() else harness.run_soak(impl, transport, params, 400.0)
            data["soak"][key] = result
            mem = result.get("controller_mem", {})
            failed = f" ({result['error']})" if "error" in result else ""
            log(f"soak {key}: peak {mem.get('VmHWM', 0):.0f} MiB, now {mem.get('VmRSS', 0):.0f} MiB{failed}")
        latest.write_text(json.dumps(data, indent=1))

    data["finished"] = now()
    data["duration_s"] = time.monotonic() - started
    latest.write_text(json.dumps(data, indent=1))
    log(f"done in {data['duration_s'] / 60:.1f} min")
    return data


if __name__ == "__main__":
    sys.exit(main())
