# ruff: noqa: RUF001, RUF003  (the report is typographic: ×, –, ÷ are meant)
"""Writes ``docs/benchmarks.md`` and ``docs/benchmarks.png`` from the harness's results."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness

ANCHORS = (("daffi2-tcp", "daffi 2.2.1"), ("daffi3-tcp", "daffi 3.0.1"), ("relay-tcp", "grpc relay"))
ROW_LABELS = {
    "daffi-tcp": "daffi (this repo), TCP",
    "daffi-unix": "daffi (this repo), UNIX",
    "daffi-tcp-bg": "daffi (this repo), TCP, 64 BG futures",
    "daffi-tcp-threads": "daffi (this repo), TCP, 64 threads",
    "daffi-unix-bg": "daffi (this repo), UNIX, 64 BG futures",
    "daffi-unix-threads": "daffi (this repo), UNIX, 64 threads",
    "daffi2-tcp": "daffi 2.2.1, TCP",
    "daffi2-unix": "daffi 2.2.1, UNIX",
    "daffi3-tcp": "daffi 3.0.1 (router), TCP",
    "daffi3-unix": "daffi 3.0.1 (router), UNIX",
    "relay-tcp": "grpc.aio relay, TCP",
    "relay-unix": "grpc.aio relay, UNIX",
    "daffi-tcp-pinned": "daffi TCP, all processes on CPU 0 (taskset)",
    "daffi-tcp-poll": "daffi TCP, GRPC_POLL_STRATEGY=poll",
    "relay-tcp-pinned": "grpc relay TCP, all on CPU 0",
    "daffi3-tcp-pinned": "daffi 3.0.1 TCP, all on CPU 0",
}


@dataclass(frozen=True)
class Metric:
    workload: str
    key: str
    label: str
    unit: str
    higher_better: bool
    digits: int = 0


METRICS: tuple[Metric, ...] = (
    Metric("w1", "p50_us", "W1 sequential add(), p50", "µs", False),
    Metric("w1", "p99_us", "W1 sequential add(), p99", "µs", False),
    Metric("w2", "calls_per_s", "W2 64 calls in flight", "calls/s", True),
    Metric("w3", "1MiB_MBps", "W3 echo 1 MiB", "MB/s", True),
    Metric("w3", "64MiB_MBps", "W3 echo 64 MiB", "MB/s", True),
    Metric("w4", "items_per_s", "W4 one-way stream of 100k ints", "items/s", True),
    Metric("w5", "broadcasts_per_s", "W5 broadcast to 4 + gather", "broadcasts/s", True),
    Metric("w6", "calls_per_s", "W6 32 callers × 4 callees, total", "calls/s", True),
    Metric("w6", "fairness_min_max", "W6 fairness (slowest ÷ fastest caller)", "", True, 2),
    Metric("w7", "p50_ms", "W7 broadcast to 100 idle nodes, p50", "ms", False, 1),
    Metric("w7", "controller_rss_mib", "W7 controller RSS with 100 nodes", "MiB", False),
)

TITLES = {
    "w1": "W1 — sequential small calls: `add(a, b)`, 200 warm-up + 2,000 measured",
    "w2": "W2 — 20,000 `add` calls with 64 in flight from one caller",
    "w3": "W3 — `echo(bytes)`: 1 MiB × 200 and 64 MiB × 5 (MB/s of request + response, 1 MB = 10⁶ B)",
    "w4": "W4 — one-way stream of 100,000 ints, then the callee's confirmed count",
    "w5": "W5 — broadcast to 4 callee processes and gather, × 500",
    "w6": "W6 — 32 caller processes at once against 4 callee nodes (5 s of sequential calls each)",
    "w7": "W7 — 100 idle nodes connected, then broadcast to all 100 (2 warm-up + 20 measured)",
}


# --- the machine ----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "kernel": platform.release()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    info["versions"] = {}
    probe = (
        "import sys, importlib.metadata as m\n"
        "names = sys.argv[1:]\n"
        "out = [sys.version.split()[0]]\n"
        "for n in names:\n"
        "    try: out.append(m.version(n))\n"
        "    except Exception: out.append('-')\n"
        "print(' '.join(out))"
    )
    wanted = {
        "bench": ["daffi-node", "daffi-controller", "daffi-core", "grpcio", "protobuf", "dill"],
        "bench-daffi2": ["daffi", "grpcio", "protobuf", "dill"],
        "bench-daffi3": ["daffi"],
    }
    for env, names in wanted.items():
        try:
            words = subprocess.run(
                [harness.python_for(env), "-c", probe, *names], capture_output=True, text=True, timeout=60
            ).stdout.split()
            info["versions"][env] = {"python": words[0], **dict(zip(names, words[1:], strict=False))}
        except (OSError, subprocess.SubprocessError, IndexError):
            info["versions"][env] = {}
    return info


# --- numbers --------------------------------------------------------------------------------


@dataclass
class Stat:
    median: float
    low: float
    high: float
    n: int


def values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in runs if key in r and "error" not in r]


def stat(runs: list[dict[str, Any]], key: str) -> Stat | None:
    vs = values(runs, key)
    if not vs:
        return None
    return Stat(statistics.median(vs), min(vs), max(vs), len(vs))


def failure(runs: list[dict[str, Any]], metric_key: str) -> str | None:
    """Why a cell has no value for a metric (the last line of a traceback is enough)."""
    for r in runs:
        if "error" in r:
            return concise(str(r["error"]))
        prefix = metric_key.split("_")[0]
        if f"{prefix}_error" in r:
            return concise(str(r[f"{prefix}_error"]))
    return None


def concise(error: str) -> str:
    """``controller exited with 1: ... | a traceback line | SomeError: why`` → ``controller ...: SomeError: why``."""
    if " | " not in error:
        return error
    head = error.split(":", 1)[0]
    return f"{head}: {error.rsplit(' | ', 1)[1].strip()}"


def fmt(v: float, digits: int = 0) -> str:
    if digits == 0 and abs(v) >= 100:
        return f"{v:,.0f}"
    if digits == 0:
        return f"{v:.1f}" if abs(v) < 10 else f"{v:.0f}"
    return f"{v:,.{digits}f}"


def cell_text(runs: list[dict[str, Any]] | None, m: Metric) -> str:
    if not runs:
        return "—"
    s = stat(runs, m.key)
    if s is None:
        why = failure(runs, m.key) or "no value"
        return f"fails: {why[:160]}" if why != "timeout" else "timeout"
    spread = f" ({fmt(s.low, m.digits)}–{fmt(s.high, m.digits)})" if s.n > 1 else ""
    errors = sum(1 for r in runs if "error" in r)
    note = f", {errors} of {len(runs)} runs failed" if errors else ""
    return f"**{fmt(s.median, m.digits)}**{spread} n={s.n}{note}"


def best_daffi(cells: dict[str, list[dict[str, Any]]], transport: str, m: Metric) -> tuple[str, Stat | None]:
    """The daffi row of a transport (for W2 the faster of BG futures and threads)."""
    keys = [k for k in cells if k.startswith(f"daffi-{transport}")]
    best: tuple[str, Stat | None] = (f"daffi-{transport}", None)
    for k in keys:
        s = stat(cells[k], m.key)
        if s is None:
            continue
        current = best[1]
        if current is None or (s.median > current.median) == m.higher_better:
            best = (k, s)
    return best


def ratio(daffi: Stat | None, anchor: Stat | None) -> float | None:
    if daffi is None or anchor is None or anchor.median == 0:
        return None
    return daffi.median / anchor.median


def ratio_text(r: float | None, m: Metric) -> str:
    if r is None:
        return "—"
    better = r > 1 if m.higher_better else r < 1
    return f"{r:.2f}× {'✓' if better else '✗'}"


# --- the document ---------------------------------------------------------------------------


def brief(workload: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"error: {str(result['error'])[:200]}"
    keys = [m.key for m in METRICS if m.workload == workload]
    parts = [f"{k}={result[k]:.1f}" for k in keys if k in result]
    parts += [f"{k}={v}" for k, v in result.items() if k.endswith("_error")]
    if "ready_s" in result:
        parts.append(f"ready={result['ready_s']:.2f}s")
    return ", ".join(parts)


def write(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    add = lines.append
    cells: dict[str, dict[str, list[dict[str, Any]]]] = data.get("cells", {})
    machine = data.get("machine", {})
    versions = machine.get("versions", {})
    repo = versions.get("bench", {})

    add("# Benchmarks")
    add("")
    add(
        "Generated by `hatch run bench:all` (code in `bench/`, see [How to run](#how-to-run)) on"
        f" **{data.get('started', '?')}** (UTC), finished {data.get('finished', '?')}, the whole run took"
        f" {data.get('duration_s', 0) / 60:.1f} min. Every number below comes from that run."
    )
    if data.get("quick"):
        add("")
        add("> **Quick mode** (`--quick`): small sizes, one repetition. Not comparable with a full run.")
    add("")
    add("## Machine and versions")
    add("")
    add(
        f"- {machine.get('cores', '?')} cores, {machine.get('memory_gib', 0):.1f} GiB memory,"
        f" CPU `{machine.get('cpu', '?')}`, Linux {machine.get('kernel', '?')}"
    )
    add(
        f"- daffi (this repo): Python {repo.get('python', '?')}, daffi-node {repo.get('daffi-node', '?')},"
        f" daffi-controller {repo.get('daffi-controller', '?')}, daffi-core {repo.get('daffi-core', '?')},"
        f" grpcio {repo.get('grpcio', '?')}, protobuf {repo.get('protobuf', '?')}, dill {repo.get('dill', '?')};"
        " the grpc.aio relay runs in the same environment"
    )
    d2 = versions.get("bench-daffi2", {})
    d3 = versions.get("bench-daffi3", {})
    add(
        f"- daffi {d2.get('daffi', '?')} (env `bench-daffi2`): Python {d2.get('python', '?')},"
        f" grpcio {d2.get('grpcio', '?')}, protobuf {d2.get('protobuf', '?')}, dill {d2.get('dill', '?')}"
    )
    add(f"- daffi {d3.get('daffi', '?')} (env `bench-daffi3`, compiled core): Python {d3.get('python', '?')}")
    add("")

    add_summary(lines, cells, data)
    add_targets(lines, cells, data)
    chart = path.with_suffix(".png")
    if write_chart(cells, chart):
        add(f"![daffi ÷ each anchor, per workload]({chart.name})")
        add("")
        add(
            "The chart shows how many times better daffi is than each anchor (throughput ÷ throughput,"
            " or anchor latency ÷ daffi latency), log scale; above 1 daffi leads."
        )
        add("")

    add("## Per workload")
    add("")
    add(
        "Each cell: **median** (min–max) over n repetitions, each in fresh processes"
        " (controller, callees, callers). Ratio columns are daffi ÷ anchor for the same metric"
        " (for W2 the faster of daffi's two in-flight modes); ✓ means daffi is better"
        " (↑ higher is better, ↓ lower is better). Anchors run over TCP, and over UNIX for W1."
    )
    add("")
    for workload in ("w1", "w2", "w3", "w4", "w5", "w6", "w7"):
        if workload in cells:
            add_workload(lines, workload, cells[workload], data)

    add_startup(lines, cells, data)
    add_profile(lines, cells, data)
    add_bounds(lines)
    add_notes(lines, cells, data)
    path.write_text("\n".join(lines) + "\n")


def add_summary(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    add("## Summary (medians)")
    add("")
    add("| metric | daffi TCP | daffi UNIX | daffi 2.2.1 | daffi 3.0.1 | grpc.aio relay |")
    add("|---|---|---|---|---|---|")
    for m in METRICS:
        if m.workload not in cells:
            continue
        c = cells[m.workload]
        row = [f"{m.label} ({m.unit}, {'↑' if m.higher_better else '↓'})" if m.unit else m.label]
        for transport in ("tcp", "unix"):
            key, s = best_daffi(c, transport, m)
            row.append(fmt(s.median, m.digits) if s else short_fail(c.get(key), m))
        for key, _ in ANCHORS:
            s = stat(c.get(key, []), m.key)
            row.append(fmt(s.median, m.digits) if s else short_fail(c.get(key), m))
        add("| " + " | ".join(row) + " |")
    soak = data.get("soak", {})
    if soak:
        row = ["controller peak RSS after W1–W5 on one controller (MiB, ↓)"]
        for key in ("daffi-tcp", "daffi-unix", "daffi2-tcp", "daffi3-tcp", "relay-tcp"):
            r = soak.get(key, {})
            hwm = r.get("controller_mem", {}).get("VmHWM")
            row.append(f"{hwm:.0f}" + (" (run failed)" if "error" in r else "") if hwm else "—")
        add("| " + " | ".join(row) + " |")
    ready = ready_stats(cells)
    if ready:
        row = ["controller start → ready (s, ↓)"]
        for key in ("daffi-tcp", "daffi-unix", "daffi2-tcp", "daffi3-tcp", "relay-tcp"):
            s = ready.get(key)
            row.append(f"{s.median:.2f}" if s else "—")
        add("| " + " | ".join(row) + " |")
    add("")


def short_fail(runs: list[dict[str, Any]] | None, m: Metric) -> str:
    if not runs:
        return "—"
    why = failure(runs, m.key) or "no value"
    if why == "timeout":
        return "timeout"
    return "fails: " + why[:90]


def ready_stats(cells: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Stat]:
    """Controller start → ready over every cell of an implementation and transport."""
    samples: dict[str, list[float]] = {}
    for rows in cells.values():
        for key, runs in rows.items():
            base = "-".join(key.split("-")[:2])
            samples.setdefault(base, []).extend(float(r["ready_s"]) for r in runs if "ready_s" in r)
    return {k: Stat(statistics.median(v), min(v), max(v), len(v)) for k, v in samples.items() if v}


def add_targets(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    add("## Targets of issue 4")
    add("")
    add("| target | transport | measured | met? |")
    add("|---|---|---|---|")
    by = {(m.workload, m.key): m for m in METRICS}

    def anchor(workload: str, key: str, anchor_key: str) -> Stat | None:
        return stat(cells.get(workload, {}).get(anchor_key, []), key)

    def check(label: str, workload: str, key: str, anchor_key: str, factor: float) -> None:
        if workload not in cells:
            return
        m = by[(workload, key)]
        a = anchor(workload, key, anchor_key)
        for transport in ("tcp", "unix"):
            _, d = best_daffi(cells[workload], transport, m)
            r = ratio(d, a)
            if r is None:
                add(f"| {label} | {transport.upper()} | no number (see the tables) | ✗ |")
                continue
            ok = r >= factor if m.higher_better else r <= factor
            gap = (
                ""
                if ok
                else (f", needs {factor / r:.2f}× more" if m.higher_better else f", needs {r / factor:.2f}× less")
            )
            add(
                f"| {label} | {transport.upper()} | {r:.2f}× ({fmt(d.median, m.digits) if d else '?'} vs"
                f" {fmt(a.median, m.digits) if a else '?'} {m.unit}){gap} | {'✓' if ok else '✗'} |"
            )

    check("W2 ≥ 2× daffi 3.0.1", "w2", "calls_per_s", "daffi3-tcp", 2.0)
    check("W1 p50 ≤ grpc relay p50", "w1", "p50_us", "relay-tcp", 1.0)
    check("W1 p50 ≤ 0.4× daffi 2.2.1", "w1", "p50_us", "daffi2-tcp", 0.4)
    check("W3 1 MiB ≥ 1.5× daffi 3.0.1", "w3", "1MiB_MBps", "daffi3-tcp", 1.5)
    if "w3" in cells:
        for transport in ("tcp", "unix"):
            runs = cells["w3"].get(f"daffi-{transport}", [])
            s = stat(runs, "64MiB_MBps")
            text = f"{fmt(s.median)} MB/s" if s else short_fail(runs, by[("w3", "64MiB_MBps")])
            add(f"| W3 64 MiB works | {transport.upper()} | {text} | {'✓' if s and s.n == len(runs) else '✗'} |")
    check("W4 ≥ 1.5× daffi 3.0.1", "w4", "items_per_s", "daffi3-tcp", 1.5)
    check("W5 ≥ 2× daffi 3.0.1", "w5", "broadcasts_per_s", "daffi3-tcp", 2.0)
    ready = ready_stats(cells)
    for transport in ("tcp", "unix"):
        s = ready.get(f"daffi-{transport}")
        if s:
            add(
                f"| controller ready ≤ 0.3 s | {transport.upper()} | {s.median:.2f} s (median of {s.n} starts,"
                f" {s.low:.2f}–{s.high:.2f}) | {'✓' if s.median <= 0.3 else '✗'} |"
            )
    for transport in ("tcp", "unix"):
        r = data.get("soak", {}).get(f"daffi-{transport}", {})
        hwm = r.get("controller_mem", {}).get("VmHWM")
        if hwm:
            add(
                f"| controller peak RSS ≤ 100 MiB after W1–W5 | {transport.upper()} | {hwm:.0f} MiB"
                f"{' (run failed: ' + str(r['error'])[:80] + ')' if 'error' in r else ''}"
                f" | {'✓' if hwm <= 100 else '✗'} |"
            )
    add("")


def add_workload(lines: list[str], workload: str, rows: dict[str, list[dict[str, Any]]], data: dict[str, Any]) -> None:
    add = lines.append
    metrics = [m for m in METRICS if m.workload == workload]
    add(f"### {TITLES[workload]}")
    add("")
    header = ["implementation"] + [
        f"{m.label.split(' ', 1)[1]} ({m.unit}, {'↑' if m.higher_better else '↓'})"
        if m.unit
        else m.label.split(" ", 1)[1]
        for m in metrics
    ]
    add("| " + " | ".join(header) + " |")
    add("|" + "---|" * len(header))
    for key, runs in rows.items():
        add("| " + " | ".join([ROW_LABELS.get(key, key)] + [cell_text(runs, m) for m in metrics]) + " |")
    add("")
    ratio_rows: list[str] = []
    for m in metrics:
        for transport in ("tcp", "unix"):
            dkey, d = best_daffi(rows, transport, m)
            parts = []
            for akey, _ in ANCHORS:
                a = stat(rows.get(akey, []), m.key)
                parts.append(ratio_text(ratio(d, a), m) if a else "anchor " + short_fail(rows.get(akey), m))
            ratio_rows.append(
                f"| {m.label.split(' ', 1)[1]}, {ROW_LABELS.get(dkey, dkey)} | " + " | ".join(parts) + " |"
            )
    add("| daffi ÷ anchor | vs daffi 2.2.1 | vs daffi 3.0.1 | vs grpc relay |")
    add("|---|---|---|---|")
    lines.extend(ratio_rows)
    add("")
    if workload == "w6":
        add("Per-caller rate (calls/s), median over repetitions of the slowest and the fastest caller:")
        add("")
        add("| implementation | slowest caller | fastest caller |")
        add("|---|---|---|")
        for key, runs in rows.items():
            lo, hi = stat(runs, "per_caller_min"), stat(runs, "per_caller_max")
            if lo and hi:
                add(f"| {ROW_LABELS.get(key, key)} | {fmt(lo.median)} | {fmt(hi.median)} |")
        add("")


def add_startup(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    add("## Controller: start → ready, memory")
    add("")
    add(
        "Start → ready is the time from spawning the controller process (interpreter start and imports"
        " included) to its ready line (`ready on` for daffi; for the others, the line the benchmark's"
        " server script prints once `start()` returned), over every cell of the run."
    )
    add("")
    add("| implementation | start → ready, median (min–max), s | starts |")
    add("|---|---|---|")
    for key, s in sorted(ready_stats(cells).items()):
        add(f"| {ROW_LABELS.get(key, key)} | **{s.median:.2f}** ({s.low:.2f}–{s.high:.2f}) | {s.n} |")
    add("")
    soak = data.get("soak", {})
    if soak:
        add(
            "Peak RSS (VmHWM) of ONE controller that served W1, W2, W3 (1 MiB and 64 MiB), W4 and W5 in a row"
            " (fresh callers for each; 1 callee, 4 for W5), one run each, and its RSS after each step:"
        )
        add("")
        add("| implementation | peak RSS, MiB | RSS after W1 / W2 / W3 / W4 / W5, MiB | notes |")
        add("|---|---|---|---|")
        for key, r in soak.items():
            mem = r.get("controller_mem", {})
            steps = r.get("steps", {})
            after = " / ".join(
                f"{steps[w + '_mem'].get('VmRSS', 0):.0f}" if w + "_mem" in steps else "—"
                for w in ("w1", "w2", "w3", "w4", "w5")
            )
            notes = [f"{w}: {v['error'][:80]}" for w, v in steps.items() if isinstance(v, dict) and "error" in v]
            if "error" in r:
                notes.append(str(r["error"])[:120])
            hwm = mem.get("VmHWM")
            add(f"| {ROW_LABELS.get(key, key)} | {f'**{hwm:.0f}**' if hwm else '—'} | {after} | {'; '.join(notes)} |")
        add("")


def add_profile(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    w1 = cells.get("w1")
    if not w1:
        return
    add("## Where the time goes in W1")
    add("")
    add(
        "CPU time per call of each process during the 2,000 measured calls (the caller's from"
        " `time.process_time()`, the controller's and callee's from /proc, all threads), medians over"
        " the W1 repetitions. A call is strictly sequential (caller → controller → callee → controller →"
        " caller), so CPU per call ÷ mean latency above 1 core means threads burn CPU in parallel with the"
        " critical path (pollers, event loops waking); when all processes share one CPU (taskset rows) the"
        " latency can be no lower than the CPU per call."
    )
    add("")
    add(
        "| implementation | p50 µs | caller CPU µs/call | controller CPU µs/call | callee CPU µs/call | sum"
        " | mean µs | sum ÷ mean (cores busy) |"
    )
    add("|---|---|---|---|---|---|---|---|")
    rows = dict(w1)
    rows.update(data.get("variants", {}))
    for key, runs in rows.items():
        p50 = stat(runs, "p50_us")
        mean = stat(runs, "mean_us")
        parts = [
            stat(runs, k) for k in ("caller_cpu_us_per_call", "controller_cpu_us_per_call", "callee_cpu_us_per_call")
        ]
        if p50 is None or mean is None or any(p is None for p in parts):
            continue
        total = sum(p.median for p in parts if p)
        add(
            f"| {ROW_LABELS.get(key, key)} | {p50.median:.0f} | "
            + " | ".join(f"{p.median:.0f}" for p in parts if p)
            + f" | {total:.0f} | {mean.median:.0f} | {total / mean.median:.2f} |"
        )
    add("")
    prof = data.get("profile")
    if not prof or "profile" not in prof:
        add("(no py-spy profile in this run)")
        add("")
        return
    duration = prof.get("duration_s", 0)
    add(
        f"py-spy (`record --rate 200 --nonblocking --threads`, {duration:.0f} s) on the caller, controller and callee"
        f" of a daffi TCP W1 run ({prof.get('calls', '?')} calls, p50 {prof.get('p50_us', 0):.0f} µs with"
        ' py-spy attached, which also takes CPU on this 2-core machine). "busy" is py-spy\'s share of'
        " samples in which a Python thread was running, in cores; the CPU column is /proc's figure for the"
        " whole process (all threads, native ones included) over the same calls."
    )
    add("")
    for role in ("caller", "controller", "callee"):
        p = prof["profile"].get(role, {})
        if "error" in p:
            add(f"- **{role}**: py-spy failed: {p['error']}")
            continue
        cpu = prof.get(f"{role}_cpu_us_per_call")
        cpu_text = f", /proc CPU {cpu:.0f} µs/call" if cpu else ""
        add(f"**{role}** — busy {p.get('busy_cores', 0):.2f} cores in Python{cpu_text}.")
        add("")
        threads = ", ".join(f"`{k}` {v:.2f}" for k, v in p.get("threads", {}).items())
        add(f"- busy by thread (cores): {threads}")
        cats = ", ".join(f"{k} {v:.0%}" for k, v in p.get("categories", []) if v >= 0.02)
        add(f"- self time by area: {cats}")
        top = "; ".join(f"`{k}` {v:.0%}" for k, v in p.get("top_self", [])[:6])
        add(f"- top self frames: {top}")
        inc = "; ".join(f"`{k}` {v:.0%}" for k, v in p.get("top_inclusive", [])[:6])
        add(f"- daffi frames, inclusive: {inc}")
        add("")
    add_reading(lines, cells, data)


def add_reading(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    """The breakdown in words, computed from this run's numbers."""
    add = lines.append
    w1 = cells.get("w1", {})
    variants = data.get("variants", {})

    def med(runs: list[dict[str, Any]] | None, key: str) -> float | None:
        s = stat(runs or [], key)
        return s.median if s else None

    d = med(w1.get("daffi-tcp"), "p50_us")
    relay = med(w1.get("relay-tcp"), "p50_us")
    d3 = med(w1.get("daffi3-tcp"), "p50_us")
    pinned = med(variants.get("daffi-tcp-pinned"), "p50_us")
    poll = med(variants.get("daffi-tcp-poll"), "p50_us")
    cpu = [
        med(w1.get("daffi-tcp"), k)
        for k in ("caller_cpu_us_per_call", "controller_cpu_us_per_call", "callee_cpu_us_per_call")
    ]
    cpu3 = [
        med(w1.get("daffi3-tcp"), k)
        for k in ("caller_cpu_us_per_call", "controller_cpu_us_per_call", "callee_cpu_us_per_call")
    ]
    if d is None or any(c is None for c in cpu):
        return
    total = sum(c for c in cpu if c is not None)
    add("Reading (computed from the numbers above):")
    add("")
    add(
        f"- daffi TCP p50 is {d:.0f} µs; the three processes burn {total:.0f} µs of CPU per call"
        f" (caller {cpu[0]:.0f}, controller {cpu[1]:.0f}, callee {cpu[2]:.0f})"
        f"{': more than the latency itself, so W1 is CPU-bound' if total >= d else ''}"
        f" — {total / d:.2f} core-µs per µs of p50. The latency is CPU spent on the path (gRPC's aio"
        " machinery, event loops, thread hand-offs) rather than time with nothing running."
    )
    if relay:
        add(
            f"- The grpc.aio relay does the same four hops with no framework on top: p50 {relay:.0f} µs,"
            f" so daffi is at {d / relay:.2f}× the same-stack floor."
        )
    if pinned:
        add(
            f"- Pinning every process to one CPU (taskset) moves daffi's p50 to {pinned:.0f} µs"
            f" ({pinned / d:.2f}×): cross-CPU wake-ups {'cost' if pinned < d else 'are not what costs; pinning adds'}"
            f" {abs(d - pinned):.0f} µs per call."
        )
    if poll:
        add(f"- `GRPC_POLL_STRATEGY=poll` instead of the default epoll1: p50 {poll:.0f} µs ({poll / d:.2f}×).")
    if d3:
        add(
            f"- daffi 3.0.1's p50 is {d3:.0f} µs: reaching it needs {d - d3:.0f} µs less per call,"
            f" i.e. cutting CPU per call from {total:.0f} µs to about the"
            f" {sum(c for c in cpu3 if c is not None):.0f} µs 3.0.1 spends; the grpc.aio relay alone, with no"
            " framework on top, already spends more than that, so it takes fewer gRPC aio events per call"
            " (or a transport without gRPC's completion-queue poller thread), not only leaner daffi code."
        )
    add("")


BOUNDS = """\
## What bounds the misses, and the next step

Where a target above is missed, this is what holds it back; the measurements behind each point
(taken while building daffi, outside this run) are in [performance.md](performance.md).

- **W1 (sequential latency) and W5 (sequential broadcasts)**: a routed call is two gRPC stream
  round trips (caller-controller, controller-callee), and on this machine one such round trip
  costs 250-330 µs in plain grpcio (aio or sync) before daffi does anything, so a call cannot
  go below about 0.5-0.66 ms; daffi 3.0.1 installs without gRPC (its compiled core carries
  its own transport). What daffi adds over the grpc.aio relay are thread hand-offs
  (the caller's thread to the node's event loop and back, the callee's loop to a worker thread
  and back), each a syscall that wakes another thread. Next step: let the waiting caller thread
  read its own reply (no hand-off back), and run callbacks declared non-blocking on the loop.
- **W2, W6 (throughput)**: CPU-bound across three processes on two cores; hand-offs are shared
  under load (one wake-up per burst) and batches carry many calls, so the remaining cost is
  per-call Python work in the node (futures, pickling, protobuf headers). Next step: decode
  replies and encode calls in bulk per batch.
- **W3 (1 MiB payloads)**: page faults on fresh buffers dominate: each hop copies a payload into
  new memory (the gRPC receive buffer, protobuf's parse, the joined batch), and on this VM
  faulting in fresh pages costs more than the copy itself. Next step: reuse buffers across
  calls (a payload pool, or protobuf-free parsing on the controller so a payload is never
  re-materialised).
- **Controller peak RSS**: the queue per receiver is capped (4 MiB, then the sender is held back),
  so what remains is gRPC's own buffers for the messages in flight and the allocator keeping
  freed chunks; next step as for W3.
"""


def add_bounds(lines: list[str]) -> None:
    lines.extend(BOUNDS.splitlines())
    lines.append("")


def add_notes(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    add("## Failures and timeouts in this run")
    add("")
    found = False
    for workload, rows in cells.items():
        for key, runs in rows.items():
            for i, r in enumerate(runs):
                errs = [concise(str(r["error"]))] if "error" in r else []
                errs += [f"{k}: {v}" for k, v in r.items() if k.endswith("_error")]
                for e in errs:
                    found = True
                    add(f"- {workload} {ROW_LABELS.get(key, key)}, run {i + 1}: {e[:300]}")
    if not found:
        add("- none")
    add("")
    background = [
        float(r["background_busy"])
        for rows in cells.values()
        for runs in rows.values()
        for r in runs
        if "background_busy" in r
    ]
    if background:
        busy = sum(1 for b in background if b > 0.25)
        add(
            f"Other load on the machine, measured over 0.1 s right before each cell (all CPUs): median"
            f" {statistics.median(background):.0%}, max {max(background):.0%}; {busy} of {len(background)} cells"
            " started with more than 25% of the CPUs busy with processes not of this harness."
        )
        add("")
    add("## How to run")
    add("")
    add("```bash")
    add("hatch run bench:all          # everything (≤ 30 min on 2 cores), rewrites this file and the chart")
    add("hatch run bench:w1           # one workload (also w2 … w7); add --reps 1 or --quick for a smoke run")
    add("hatch run bench:all --report-only   # rewrite the report from bench/results/latest.json")
    add("```")
    add("")
    add("Method and notes:")
    add("")
    add(
        f"- {data.get('reps', 3)} repetitions per cell, each in fresh processes; fewer for slow anchor cells to keep"
        f" the run under 30 minutes: {', '.join(f'{k} × {v}' for k, v in data.get('reps_override', {}).items())}."
    )
    add(
        "- Per-cell timeout 120 s (180 s for W7): the harness kills every process group of the cell and records"
        " `timeout`. Only 127.0.0.1 and UNIX sockets (in a fresh temporary directory per cell)."
    )
    add(
        "- daffi (this repo): `python -m daffi_controller`, nodes with `Global`; `g.call.add(a, b) & FG`;"
        " W2 runs both 64 `BG` futures from one thread and 64 threads making `FG` calls, and the ratios use the"
        " faster; W4 is `g.call.sink(range(100000)) & STREAM` then `g.call.count() & FG`."
    )
    add(
        "- daffi 2.2.1: `Global(init_controller=True, init_node=False)` as the controller; W2 with 64 threads"
        " (FG); W4 through a generator fetcher (2.2.1's stream), which returns when the receiver confirmed."
    )
    add(
        "- daffi 3.0.1: `Router` + `Client`s, `conn.rpc(...)`, `conn.cast(...)`; W2 with 64 threads; W4 with"
        " `stream_nowait` (its acknowledged `stream` waits one round trip per item) followed by polling the"
        " callee's `count()` until all 100,000 arrived."
    )
    add(
        "- grpc.aio relay (bench/relay.py): raw-bytes generic handlers, a bidirectional stream per callee,"
        " pickled arguments, 256 MiB message limit; W2 with 64 `future()` calls in flight, W4 a client stream."
    )
    add(
        "- Callbacks run in the callee's default mode for each framework (daffi: a daemon thread per call;"
        " 3.0.1: inline, `workers=1`)."
    )
    add("")


# --- the chart ------------------------------------------------------------------------------


def write_chart(cells: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> bool:
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    labels: list[str] = []
    series: dict[str, list[float]] = {}
    names = [(t, a, f"daffi {t.upper()} vs {label}") for t in ("tcp", "unix") for a, label in ANCHORS]
    for m in METRICS:
        if m.workload not in cells or m.key == "fairness_min_max":
            continue
        labels.append(m.label.split(",")[0].replace(" sequential add()", " p50" if m.key == "p50_us" else " p99"))
        for transport, akey, name in names:
            _, d = best_daffi(cells[m.workload], transport, m)
            a = stat(cells[m.workload].get(akey, []), m.key)
            r = ratio(d, a)
            value = float("nan") if r is None else (r if m.higher_better else 1 / r)
            series.setdefault(name, []).append(value)
    if not labels:
        return False
    fig, ax = plt.subplots(figsize=(13, 5.5))
    width = 0.8 / len(series)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#aec7e8", "#ffbb78", "#98df8a"]
    for i, (name, vals) in enumerate(series.items()):
        xs = [x + (i - len(series) / 2 + 0.5) * width for x in range(len(labels))]
        ax.bar(xs, vals, width, label=name, color=colors[i % len(colors)])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(range(len(labels))))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("daffi better by (×), log scale")
    ax.set_title("daffi (this repo) relative to each anchor — above 1 daffi leads")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
