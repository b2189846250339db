"""``hatch run bench:all`` — every workload on daffi (socket and gRPC transports) and the anchors; writes the report.

    python -m bench [--workloads w1,w2] [--reps 3] [--quick] [--report-only] [--no-profile]
                    [--impls daffi-socket,daffi-grpc,daffi2,daffi3,relay] [--previous FILE]

daffi from this repository runs as two implementations, each with its transport given
explicitly to both sides (``daffi_controller --transport X``, ``Global(transport=X)``):
``daffi-socket`` on TCP and UNIX, and ``daffi-grpc`` on TCP and, for W1 only, UNIX.

Raw results go to ``bench/results/latest.json``; the tables of ``docs/benchmarks.md`` (between its
markers: the page's prose is edited by hand) and ``docs/benchmarks.png`` are filled from them. A
``--quick`` run writes its results to the temporary folder (``daffi-bench-quick.json``) and no page
unless ``--output`` names one. A full run keeps the gRPC-transport rows of the run it replaces (or of
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

PARAMS: dict[str, dict[str, Any]] = {
    "w1": {"warmup": 200, "calls": 2000},
    "w2": {"calls": 20000, "window": 64},
    "w3": {"small_size": 1 << 20, "small_reps": 200, "big_size": 64 << 20, "big_reps": 5},
    "w4": {"items": 100000},
    "w5": {"warmup": 20, "broadcasts": 500, "callees": 4},
    "w6": {"duration": 5.0, "callers": 32, "callees": 4},
    "w7": {"warmup": 2, "broadcasts": 20, "callees": 100},
}

QUICK: dict[str, dict[str, Any]] = {
    "w1": {"warmup": 20, "calls": 200},
    "w2": {"calls": 2000, "window": 64},
    "w3": {"small_size": 1 << 20, "small_reps": 10, "big_size": 64 << 20, "big_reps": 1},
    "w4": {"items": 5000},
    "w5": {"warmup": 2, "broadcasts": 30, "callees": 4},
    "w6": {"duration": 1.0, "callers": 8, "callees": 4},
    "w7": {"warmup": 1, "broadcasts": 3, "callees": 20},
}

# Per-cell bounds, seconds (W7 starts 100 processes on 2 cores).
TIMEOUTS = {"w1": 120.0, "w2": 120.0, "w3": 120.0, "w4": 120.0, "w5": 120.0, "w6": 120.0, "w7": 180.0}

# Slow anchor cells run fewer times to keep the whole run under 30 minutes (said in the report).
REPS_OVERRIDE: dict[tuple[str, str], int] = {
    ("daffi2", "w2"): 1,
    ("daffi2", "w4"): 1,
    ("daffi2", "w7"): 1,
    ("daffi3", "w7"): 1,
    ("relay", "w7"): 1,
}

# Anchors run over TCP; over UNIX only W1 (to record which of them can).
ANCHOR_UNIX_WORKLOADS = {"w1"}

# daffi from this repo: the socket transport on TCP and UNIX for every workload; the gRPC
# transport on TCP for every workload and on UNIX only for W1 (on UNIX the default, "auto", is
# the socket transport, and a full gRPC-UNIX column would push the run past its budget).
DAFFI_IMPLS = ("daffi-socket", "daffi-grpc")
GRPC_UNIX_WORKLOADS = {"w1"}

BUDGET_S = 28 * 60


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


def w1_variants() -> list[tuple[str, str, list[str], dict[str, str]]]:
    """Extra W1 cells for the time breakdown: (row key, impl, wrapper, env)."""
    return [
        ("daffi-socket-tcp-pinned", "daffi-socket", ["taskset", "-c", "0"], {}),
        ("daffi-grpc-tcp-pinned", "daffi-grpc", ["taskset", "-c", "0"], {}),
        ("daffi-grpc-tcp-poll", "daffi-grpc", [], {"GRPC_POLL_STRATEGY": "poll"}),
        ("relay-tcp-pinned", "relay", ["taskset", "-c", "0"], {}),
        ("daffi3-tcp-pinned", "daffi3", ["taskset", "-c", "0"], {}),
    ]


# One py-spy profile of W1 per daffi transport, on TCP.
PROFILED = ("daffi-socket", "daffi-grpc")

SOAKED = (
    ("daffi-socket-tcp", "daffi-socket", "tcp"),
    ("daffi-socket-unix", "daffi-socket", "unix"),
    ("daffi-grpc-tcp", "daffi-grpc", "tcp"),
    ("daffi2-tcp", "daffi2", "tcp"),
    ("daffi3-tcp", "daffi3", "tcp"),
    ("relay-tcp", "relay", "tcp"),
)


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
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from latest.json")
    parser.add_argument("--output", help="the page whose tables to fill (default docs/benchmarks.md; none for --quick)")
    parser.add_argument(
        "--previous",
        help="results JSON whose gRPC-transport rows the report compares with (default: the latest.json"
        " this run replaces)",
    )
    args = parser.parse_args(argv)

    RESULTS.mkdir(parents=True, exist_ok=True)
    latest = RESULTS / "latest.json"
    page = Path(args.output) if args.output else None if args.quick else harness.ROOT / "docs" / "benchmarks.md"
    if args.report_only:
        data = json.loads(latest.read_text())
        if args.previous:  # a baseline chosen afterwards is kept with the results it is compared with
            data["previous"] = report.previous_run(json.loads(Path(args.previous).read_text()))
            latest.write_text(json.dumps(data, indent=1) + "\n")
        report.write(data, page or harness.ROOT / "docs" / "benchmarks.md")
        log(f"filled {page}")
        return 0

    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    impls = parse_impls(args.impls)
    previous_file = Path(args.previous) if args.previous else latest
    if args.quick:  # a smoke run: its results do not replace the last full run's
        latest = Path(tempfile.gettempdir()) / "daffi-bench-quick.json"
    previous = report.previous_run(json.loads(previous_file.read_text())) if previous_file.exists() else None
    params = QUICK if args.quick else PARAMS
    reps = 1 if args.quick else args.reps
    started = time.monotonic()
    data: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "reps": reps,
        "reps_override": {f"{k[0]}/{k[1]}": v for k, v in REPS_OVERRIDE.items()},
        "grpc_unix_workloads": sorted(GRPC_UNIX_WORKLOADS),
        "params": {w: params[w] for w in workloads},
        "cells": {},
        "variants": {},
        "profiles": {},
    }
    if previous is not None:
        data["previous"] = previous
    log("preparing environments (bench, bench-daffi2, bench-daffi3) ...")
    for impl in harness.IMPLS.values():
        harness.python_for(impl.env)
    data["machine"] = report.machine_info()

    def over_budget() -> bool:
        return time.monotonic() - started > BUDGET_S

    for workload in workloads:
        rows = [r for r in cells_for(workload) if r[1] in impls]
        for rep in range(reps):
            for key, impl_key, transport, extra in rows:
                wanted = min(reps, REPS_OVERRIDE.get((impl_key, workload), reps))
                if rep >= wanted:
                    continue
                slot = data["cells"].setdefault(workload, {}).setdefault(key, [])
                if over_budget():
                    slot.append({"error": "skipped: time budget of the run used up"})
                    continue
                cell = harness.Cell(
                    workload,
                    harness.IMPLS[impl_key],
                    transport,
                    dict(params[workload], **extra),
                    TIMEOUTS[workload],
                )
                t0 = time.monotonic()
                result = harness.run_cell(cell)
                result["wall_s"] = time.monotonic() - t0
                slot.append(result)
                log(f"{workload} {key} rep {rep + 1}: {report.brief(workload, result)} ({result['wall_s']:.1f} s)")
        latest.write_text(json.dumps(data, indent=1))

    if "w1" in workloads and not args.no_profile:
        for key, impl_key, wrapper, env in w1_variants():
            if impl_key not in impls:
                continue
            for rep in range(reps):
                if over_budget():
                    break
                cell = harness.Cell(
                    "w1", harness.IMPLS[impl_key], "tcp", dict(params["w1"]), TIMEOUTS["w1"], env, wrapper
                )
                result = harness.run_cell(cell)
                data["variants"].setdefault(key, []).append(result)
                log(f"w1 variant {key} rep {rep + 1}: {report.brief('w1', result)}")
        for impl_key in PROFILED:
            if impl_key not in impls or over_budget():
                continue
            duration = 2.0 if args.quick else 6.0
            prof = dict(params["w1"], calls=int(duration * 2500))
            cell = harness.Cell(
                "w1",
                harness.IMPLS[impl_key],
                "tcp",
                prof,
                TIMEOUTS["w1"],
                profile=pyspy_profiler(RESULTS / "pyspy" / impl_key, duration),
            )
            result = harness.run_cell(cell)
            result["duration_s"] = duration
            data["profiles"][f"{impl_key}-tcp"] = result
            log(f"w1 profile {impl_key}-tcp: {report.brief('w1', result)}")
        latest.write_text(json.dumps(data, indent=1))

    if not args.no_soak and set(workloads) >= {"w1", "w2", "w3", "w4", "w5"}:
        data["soak"] = {}
        for key, impl_key, transport in SOAKED:
            if impl_key not in impls:
                continue
            if over_budget():
                data["soak"][key] = {"error": "skipped: time budget of the run used up"}
                continue
            result = harness.run_soak(harness.IMPLS[impl_key], transport, params, 400.0)
            data["soak"][key] = result
            mem = result.get("controller_mem", {})
            log(
                f"soak {key}: peak {mem.get('VmHWM', 0):.0f} MiB, now {mem.get('VmRSS', 0):.0f} MiB"
                f" {result.get('error', '')}"
            )
        latest.write_text(json.dumps(data, indent=1))

    data["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data["duration_s"] = time.monotonic() - started
    latest.write_text(json.dumps(data, indent=1))
    if page is not None:
        report.write(data, page)
    log(
        f"done in {data['duration_s'] / 60:.1f} min; results in {latest}"
        + (f", tables filled in {page}" if page else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
