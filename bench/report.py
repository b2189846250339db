# ruff: noqa: RUF001, RUF003  (the tables are typographic: ×, –, ÷ are meant)
"""Fills the tables of ``docs/benchmarks.md`` (between its ``<!-- bench:table NAME -->`` markers) and
draws ``docs/benchmarks.png`` from the harness's results; the page's prose is edited by hand."""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from tools import pages

Runs = list[dict[str, Any]]
Cells = dict[str, dict[str, Runs]]

ANCHORS = (("daffi2-tcp", "daffi 2.2.1"), ("daffi3-tcp", "daffi 3.0.1"), ("relay-tcp", "grpc relay"))
TRANSPORTS = ("tcp", "unix")
#: daffi from this repo, one implementation per transport, and the daffi columns of the summary
DAFFI = (("daffi-socket", "daffi socket"), ("daffi-grpc", "daffi gRPC"))
DAFFI_ROWS = tuple((impl, t) for impl, _ in DAFFI for t in TRANSPORTS)
#: "no slower than before": the gRPC transport's median may be this much worse than the previous run's
GRPC_TOLERANCE = 0.10
WORKLOADS = ("w1", "w2", "w3", "w4", "w5", "w6", "w7")


def _row_labels() -> dict[str, str]:
    labels = {"daffi-grpc-tcp-poll": "daffi gRPC, TCP, GRPC_POLL_STRATEGY=poll"}
    for t, tname in (("tcp", "TCP"), ("unix", "UNIX")):
        for impl, name in DAFFI:
            labels[f"{impl}-{t}"] = f"{name}, {tname}"
            labels[f"{impl}-{t}-bg"] = f"{name}, {tname}, 64 BG futures"
            labels[f"{impl}-{t}-threads"] = f"{name}, {tname}, 64 threads"
            labels[f"{impl}-{t}-pinned"] = f"{name}, {tname}, all processes on CPU 0 (taskset)"
        labels[f"daffi2-{t}"] = f"daffi 2.2.1, {tname}"
        labels[f"daffi3-{t}"] = f"daffi 3.0.1 (router), {tname}"
        labels[f"relay-{t}"] = f"grpc.aio relay, {tname}"
    labels["relay-tcp-pinned"] = "grpc relay TCP, all on CPU 0"
    labels["daffi3-tcp-pinned"] = "daffi 3.0.1 TCP, all on CPU 0"
    return labels


ROW_LABELS = _row_labels()


@dataclass(frozen=True)
class Metric:
    workload: str
    key: str
    label: str
    unit: str
    higher_better: bool
    digits: int = 0

    @property
    def title(self) -> str:
        """The label with its unit and direction, for column and row headers."""
        return f"{self.label} ({self.unit}, {'↑' if self.higher_better else '↓'})" if self.unit else self.label

    @property
    def short(self) -> str:
        """``W1 p50``, ``W3 echo 1 MiB``: the label up to its first comma."""
        return self.label.split(",")[0].replace(" sequential add()", " p50" if self.key == "p50_us" else " p99")


METRICS = (
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
BY_KEY = {(m.workload, m.key): m for m in METRICS}
#: what "the gRPC transport no slower than before" judges (p99 and W6 fairness swing too much between
#: runs, W7's RSS is memory, not speed)
GRPC_JUDGED = tuple(m for m in METRICS if m.key not in ("p99_us", "fairness_min_max", "controller_rss_mib"))
CPU_KEYS = ("caller_cpu_us_per_call", "controller_cpu_us_per_call", "callee_cpu_us_per_call")


# --- the machine ----------------------------------------------------------------------------

_PROBE = """import sys, importlib.metadata as m
out = [sys.version.split()[0]]
for n in sys.argv[1:]:
    try: out.append(m.version(n))
    except Exception: out.append('-')
print(' '.join(out))"""
_VERSIONS = {
    "bench": ["daffi-node", "daffi-controller", "daffi-core", "grpcio", "protobuf", "dill", "uvloop"],
    "bench-daffi2": ["daffi", "grpcio", "protobuf", "dill"],
    "bench-daffi3": ["daffi"],
}


def machine_info() -> dict[str, Any]:
    """The machine, and the versions installed in each benchmark environment."""
    info = pages.machine()
    info["versions"] = {}
    for env, names in _VERSIONS.items():
        try:
            argv = [harness.python_for(env), "-c", _PROBE, *names]
            words = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.split()
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


def stat(runs: Runs | None, key: str) -> Stat | None:
    vs = [float(r[key]) for r in runs or [] if key in r and "error" not in r]
    return Stat(statistics.median(vs), min(vs), max(vs), len(vs)) if vs else None


def concise(error: str) -> str:
    """``controller exited with 1: ... | a traceback line | SomeError: why`` → ``controller ...: SomeError: why``."""
    if " | " not in error:
        return error
    return f"{error.split(':', 1)[0]}: {error.rsplit(' | ', 1)[1].strip()}"


def short_fail(runs: Runs | None, m: Metric, width: int = 90) -> str:
    """Why a cell has no value for a metric (``—``: it did not run)."""
    if not runs:
        return "—"
    prefix = m.key.split("_")[0]
    why = next(
        (str(r.get("error", r.get(f"{prefix}_error"))) for r in runs if "error" in r or f"{prefix}_error" in r), ""
    )
    why = concise(why) or "no value"
    return "timeout" if why == "timeout" else f"fails: {why[:width]}"


def fmt(v: float, digits: int = 0) -> str:
    if digits:
        return f"{v:,.{digits}f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) < 10 else f"{v:.0f}"


def cell_text(runs: Runs, m: Metric) -> str:
    s = stat(runs, m.key)
    if s is None:
        return short_fail(runs, m, 160)
    spread = f" ({fmt(s.low, m.digits)}–{fmt(s.high, m.digits)})" if s.n > 1 else ""
    errors = sum(1 for r in runs if "error" in r)
    return f"**{fmt(s.median, m.digits)}**{spread} n={s.n}" + (
        f", {errors} of {len(runs)} runs failed" if errors else ""
    )


def daffi_runs(cells: dict[str, Runs], impl: str, transport: str) -> Runs | None:
    """All runs of a daffi implementation and transport, W2's two in-flight modes together (None: not run)."""
    base = f"{impl}-{transport}"
    return [r for k, v in cells.items() if k == base or k.startswith(base + "-") for r in v] or None


def best_daffi(cells: dict[str, Runs], impl: str, transport: str, m: Metric) -> tuple[str, Stat | None]:
    """The row of a daffi implementation and transport (for W2 the faster of BG futures and threads)."""
    base = f"{impl}-{transport}"
    found = [(k, stat(v, m.key)) for k, v in cells.items() if k == base or k.startswith(base + "-")]
    found = [(k, s) for k, s in found if s is not None]
    if not found:
        return base, None
    return (max if m.higher_better else min)(found, key=lambda ks: ks[1].median if ks[1] else 0.0)


def ratio(a: Stat | None, b: Stat | None) -> float | None:
    return a.median / b.median if a and b and b.median else None


def ratio_text(r: float | None, m: Metric) -> str:
    return "—" if r is None else f"{r:.2f}× {'✓' if (r > 1) == m.higher_better else '✗'}"


def ready_stats(cells: Cells) -> dict[str, Stat]:
    """Controller start → ready over every cell of an implementation and transport."""
    samples: dict[str, list[float]] = {}
    for rows in cells.values():
        for key, runs in rows.items():
            base = "-".join(key.split("-")[:3]) if key.startswith("daffi-") else "-".join(key.split("-")[:2])
            samples.setdefault(base, []).extend(float(r["ready_s"]) for r in runs if "ready_s" in r)
    return {k: Stat(statistics.median(v), min(v), max(v), len(v)) for k, v in samples.items() if v}


def brief(workload: str, result: dict[str, Any]) -> str:
    """One line of progress for the log."""
    if "error" in result:
        return f"error: {str(result['error'])[:200]}"
    parts = [f"{m.key}={result[m.key]:.1f}" for m in METRICS if m.workload == workload and m.key in result]
    parts += [f"{k}={v}" for k, v in result.items() if k.endswith("_error")]
    return ", ".join(parts + ([f"ready={result['ready_s']:.2f}s"] if "ready_s" in result else []))


def previous_run(old: dict[str, Any]) -> dict[str, Any] | None:
    """What a new run keeps of the results it replaces: the gRPC transport's cells and soak.

    Per workload the newest full (not ``--quick``) run that has it; a quick run only passes on what it
    had carried itself.
    """
    carried: dict[str, Any] = old.get("previous") or {}
    cells, started = dict(carried.get("cells", {})), dict(carried.get("started", {}))
    soak: dict[str, Any] = dict(carried.get("soak", {}))
    if not old.get("quick"):
        for workload, rows in old.get("cells", {}).items():
            grpc = {k: v for k, v in rows.items() if k.startswith("daffi-grpc-")}
            if grpc:
                cells[workload], started[workload] = grpc, old.get("started", "?")
        soak = {k: v for k, v in old.get("soak", {}).items() if k.startswith("daffi-grpc-")} or soak
    return {"cells": cells, "started": started, "soak": soak} if cells or soak else None


# --- the tables -----------------------------------------------------------------------------


def run_table(data: dict[str, Any]) -> str:
    text = (
        f"This run: started **{data.get('started', '?')}** (UTC), finished {data.get('finished', '?')},"
        f" {data.get('duration_s', 0) / 60:.1f} min in all."
    )
    return text + ("\n\n> **Quick mode** (`--quick`): small sizes, one repetition." if data.get("quick") else "")


def machine_table(machine: dict[str, Any]) -> str:
    versions = machine.get("versions", {})
    repo, d2, d3 = (versions.get(env, {}) for env in ("bench", "bench-daffi2", "bench-daffi3"))
    ours = ", ".join(f"{name} {repo.get(name, '?')}" for name in _VERSIONS["bench"])
    return "\n".join(
        [
            f"- {machine.get('cores', '?')} cores, {machine.get('memory_gib', 0):.1f} GiB memory,"
            f" CPU `{machine.get('cpu', '?')}`, Linux {machine.get('kernel', '?')}",
            f"- daffi (this repo): Python {repo.get('python', '?')}, {ours}; the grpc.aio relay runs in the same"
            " environment",
            f"- daffi {d2.get('daffi', '?')} (env `bench-daffi2`): Python {d2.get('python', '?')},"
            f" grpcio {d2.get('grpcio', '?')}, protobuf {d2.get('protobuf', '?')}, dill {d2.get('dill', '?')}",
            f"- daffi {d3.get('daffi', '?')} (env `bench-daffi3`, compiled core): Python {d3.get('python', '?')}",
        ]
    )


def summary_table(cells: Cells, data: dict[str, Any]) -> str:
    header = (
        ["metric"] + [ROW_LABELS[f"{i}-{t}"] for i, t in DAFFI_ROWS] + ["daffi 2.2.1", "daffi 3.0.1", "grpc.aio relay"]
    )
    rows = []
    for m in METRICS:
        if m.workload in cells:
            c = cells[m.workload]
            row = [m.title]
            for impl, t in DAFFI_ROWS:
                s = best_daffi(c, impl, t, m)[1]
                row.append(fmt(s.median, m.digits) if s else short_fail(daffi_runs(c, impl, t), m))
            for key, _ in ANCHORS:
                s = stat(c.get(key), m.key)
                row.append(fmt(s.median, m.digits) if s else short_fail(c.get(key), m))
            rows.append(row)
    columns = [f"{i}-{t}" for i, t in DAFFI_ROWS] + [key for key, _ in ANCHORS]
    if data.get("soak"):
        row = ["controller peak RSS after W1–W5 on one controller (MiB, ↓)"]
        for key in columns:
            r = data["soak"].get(key, {})
            hwm = r.get("controller_mem", {}).get("VmHWM")
            row.append(f"{hwm:.0f}" + (" (run failed)" if "error" in r else "") if hwm else "—")
        rows.append(row)
    ready = ready_stats(cells)
    if ready:
        rows.append(
            ["controller start → ready (s, ↓)"] + [f"{ready[k].median:.2f}" if k in ready else "—" for k in columns]
        )
    return pages.table(header, rows)


class Targets:
    """The rows of a targets table: target, daffi row, measured, met."""

    def __init__(self, cells: Cells, data: dict[str, Any]) -> None:
        self.cells, self.data = cells, data
        self.rows: list[list[str]] = []

    def row(self, target: str, key: str, measured: str, ok: bool) -> None:
        self.rows.append([target, ROW_LABELS[key], measured, "✓" if ok else "✗"])

    def ratio(self, target: str, metric: tuple[str, str], impl: str, t: str, anchor: str, factor: float) -> None:
        """daffi ÷ anchor ≥ factor (higher is better) or ≤ factor (lower is better)."""
        m = BY_KEY[metric]
        rows = self.cells.get(m.workload, {})
        if daffi_runs(rows, impl, t) is None or anchor not in rows:
            return  # not run (e.g. --impls): no verdict
        d, a = best_daffi(rows, impl, t, m)[1], stat(rows.get(anchor), m.key)
        r = ratio(d, a)
        if r is None or d is None or a is None:
            why = (
                short_fail(daffi_runs(rows, impl, t), m) if d is None else "anchor: " + short_fail(rows.get(anchor), m)
            )
            self.row(target, f"{impl}-{t}", f"no number ({why})", False)
            return
        ok = r >= factor if m.higher_better else r <= factor
        gap = "" if ok else f", needs {factor / r:.2f}× more" if m.higher_better else f", needs {r / factor:.2f}× less"
        self.row(
            target,
            f"{impl}-{t}",
            f"{r:.2f}× ({fmt(d.median, m.digits)} vs {fmt(a.median, m.digits)} {m.unit}){gap}",
            ok,
        )

    def works(self, impl: str, t: str) -> None:
        """W3's 64 MiB echo succeeded in every run."""
        runs = self.cells.get("w3", {}).get(f"{impl}-{t}")
        if runs:
            s = stat(runs, "64MiB_MBps")
            text = f"{fmt(s.median)} MB/s" if s else short_fail(runs, BY_KEY[("w3", "64MiB_MBps")])
            text += f", {len(runs) - s.n} of {len(runs)} runs failed" if s and s.n < len(runs) else ""
            self.row("W3 64 MiB works", f"{impl}-{t}", text, bool(s and s.n == len(runs)))

    def ready(self, impl: str, t: str, limit: float) -> None:
        s = ready_stats(self.cells).get(f"{impl}-{t}")
        if s:
            text = f"{s.median:.2f} s (median of {s.n} starts, {s.low:.2f}–{s.high:.2f})"
            text += f", needs {s.median / limit:.2f}× less" if s.median > limit else ""
            self.row(f"controller start → ready ≤ {limit:g} s", f"{impl}-{t}", text, s.median <= limit)

    def rss(self, impl: str, t: str, limit: float) -> None:
        r = self.data.get("soak", {}).get(f"{impl}-{t}")
        if r:
            target = f"controller peak RSS ≤ {limit:g} MiB after W1–W5"
            hwm = r.get("controller_mem", {}).get("VmHWM")
            if not hwm:
                self.row(target, f"{impl}-{t}", f"no number ({str(r.get('error', '?'))[:80]})", False)
                return
            text = f"{hwm:.0f} MiB" + (f" (run failed: {str(r['error'])[:80]})" if "error" in r else "")
            text += f", needs {hwm - limit:.0f} MiB less" if hwm > limit else ""
            self.row(target, f"{impl}-{t}", text, hwm <= limit and "error" not in r)

    def table(self) -> str | None:
        return pages.table(["target", "daffi row", "measured", "met?"], self.rows) if self.rows else None


def socket_targets(cells: Cells, data: dict[str, Any]) -> str | None:
    """The socket transport's targets: ratios over TCP against daffi 3.0.1 in the same run."""
    t, sock, d3 = Targets(cells, data), "daffi-socket", "daffi3-tcp"
    t.ratio("W1 p50 ≤ 0.6× daffi 3.0.1", ("w1", "p50_us"), sock, "tcp", d3, 0.6)
    if stat(cells.get("w1", {}).get("daffi3-unix"), "p50_us") is not None:
        t.ratio("W1 p50 ≤ 0.5× daffi 3.0.1 on UNIX", ("w1", "p50_us"), sock, "unix", "daffi3-unix", 0.5)
    else:
        t.ratio(
            "W1 p50 ≤ 0.5× daffi 3.0.1 (its UNIX run has no number: vs its TCP)",
            ("w1", "p50_us"),
            sock,
            "unix",
            d3,
            0.5,
        )
    t.ratio("W1 p99 ≤ daffi 3.0.1 p99", ("w1", "p99_us"), sock, "tcp", d3, 1.0)
    t.ratio("W2 ≥ 1.5× daffi 3.0.1", ("w2", "calls_per_s"), sock, "tcp", d3, 1.5)
    t.ratio("W3 1 MiB ≥ 1.5× daffi 3.0.1", ("w3", "1MiB_MBps"), sock, "tcp", d3, 1.5)
    t.works(sock, "tcp")
    t.works(sock, "unix")
    t.ratio("W4 ≥ 2× daffi 3.0.1", ("w4", "items_per_s"), sock, "tcp", d3, 2.0)
    t.ratio("W5 ≥ 1× daffi 3.0.1", ("w5", "broadcasts_per_s"), sock, "tcp", d3, 1.0)
    t.ratio("W6 ≥ 1× daffi 3.0.1", ("w6", "calls_per_s"), sock, "tcp", d3, 1.0)
    for transport in TRANSPORTS:
        compared = grpc_comparison(cells, data.get("previous"), transport)
        if compared:
            worse = [(m, r) for m, r, ok in compared if not ok]
            text = f"{len(compared) - len(worse)} of {len(compared)} metrics within {GRPC_TOLERANCE:.0%} of the"
            text += " previous run"
            if worse:
                slower = (f"{m.short} {r:.2f}× {'↑' if m.higher_better else '↓'}" for m, r in worse)
                text += "; slower (this ÷ previous): " + ", ".join(slower)
            t.row("gRPC transport no slower than before", f"daffi-grpc-{transport}", text, not worse)
    for transport in TRANSPORTS:
        t.rss(sock, transport, 80)
    for transport in TRANSPORTS:
        t.ready(sock, transport, 0.2)
    return t.table()


def grpc_targets(cells: Cells, data: dict[str, Any]) -> str | None:
    """The targets of issue 4 (before the socket transport), kept for the gRPC transport."""
    t, grpc, d3 = Targets(cells, data), "daffi-grpc", "daffi3-tcp"
    checks = (
        ("W1 p50 ≤ grpc relay p50", ("w1", "p50_us"), "relay-tcp", 1.0),
        ("W1 p50 ≤ 0.4× daffi 2.2.1", ("w1", "p50_us"), "daffi2-tcp", 0.4),
        ("W2 ≥ 2× daffi 3.0.1", ("w2", "calls_per_s"), d3, 2.0),
        ("W3 1 MiB ≥ 1.5× daffi 3.0.1", ("w3", "1MiB_MBps"), d3, 1.5),
        ("W3 64 MiB works", ("w3", "64MiB_MBps"), "", 0.0),
        ("W4 ≥ 1.5× daffi 3.0.1", ("w4", "items_per_s"), d3, 1.5),
        ("W5 ≥ 2× daffi 3.0.1", ("w5", "broadcasts_per_s"), d3, 2.0),
    )
    for target, metric, anchor, factor in checks:
        for transport in TRANSPORTS:
            if anchor:
                t.ratio(target, metric, grpc, transport, anchor, factor)
            else:
                t.works(grpc, transport)
    for transport in TRANSPORTS:
        t.ready(grpc, transport, 0.3)
    for transport in TRANSPORTS:
        t.rss(grpc, transport, 100)
    return t.table()


def grpc_comparison(cells: Cells, previous: dict[str, Any] | None, transport: str) -> list[tuple[Metric, float, bool]]:
    """(metric, this run ÷ previous run, within tolerance) of the gRPC transport's judged metrics."""
    out = []
    for m in GRPC_JUDGED if previous else ():
        now = best_daffi(cells.get(m.workload, {}), "daffi-grpc", transport, m)[1]
        before = best_daffi(previous["cells"].get(m.workload, {}) if previous else {}, "daffi-grpc", transport, m)[1]
        r = ratio(now, before)
        if r is not None:
            out.append((m, r, r >= 1 - GRPC_TOLERANCE if m.higher_better else r <= 1 + GRPC_TOLERANCE))
    return out


def previous_table(cells: Cells, data: dict[str, Any]) -> str | None:
    """The gRPC transport's medians next to the previous run's."""
    previous = data.get("previous")
    if not previous:
        return None
    rows = []
    for m in METRICS:
        for transport in TRANSPORTS if m.key != "controller_rss_mib" else ():
            now = best_daffi(cells.get(m.workload, {}), "daffi-grpc", transport, m)[1]
            before = best_daffi(previous["cells"].get(m.workload, {}), "daffi-grpc", transport, m)[1]
            if now is None:  # not in this run (e.g. gRPC over UNIX beyond W1)
                continue
            r = ratio(now, before)
            ok = r is not None and (r >= 1 - GRPC_TOLERANCE if m.higher_better else r <= 1 + GRPC_TOLERANCE)
            verdict = "—" if r is None else "(not judged)" if m not in GRPC_JUDGED else "✓" if ok else "✗"
            was = fmt(before.median, m.digits) if before else "—"
            rows.append(
                [
                    m.title,
                    ROW_LABELS[f"daffi-grpc-{transport}"],
                    fmt(now.median, m.digits),
                    was,
                    f"{r:.2f}×" if r else "—",
                    verdict,
                ]
            )
    for transport in TRANSPORTS:
        key = f"daffi-grpc-{transport}"
        now_hwm = data.get("soak", {}).get(key, {}).get("controller_mem", {}).get("VmHWM")
        was_hwm = previous.get("soak", {}).get(key, {}).get("controller_mem", {}).get("VmHWM")
        if now_hwm:
            r = f"{now_hwm / was_hwm:.2f}×" if was_hwm else "—"
            was = f"{was_hwm:.0f}" if was_hwm else "—"
            rows.append(
                ["controller peak RSS after W1–W5 (MiB, ↓)", ROW_LABELS[key], f"{now_hwm:.0f}", was, r, "(not judged)"]
            )
    sources = ", ".join(sorted(set(previous.get("started", {}).values()))) or "?"
    header = ["metric", "daffi row", "this run", "previous run", "this ÷ previous", "within?"]
    return f"Previous run(s): {sources} (UTC).\n\n" + pages.table(header, rows)


def workload_table(workload: str, rows: dict[str, Runs]) -> str:
    """Every row of one workload, then each daffi row ÷ each anchor (W6: and the per-caller rates)."""
    metrics = [m for m in METRICS if m.workload == workload]
    header = ["implementation"] + [m.title.split(" ", 1)[1] for m in metrics]
    parts = [
        pages.table(
            header, [[ROW_LABELS.get(k, k)] + [cell_text(runs, m) for m in metrics] for k, runs in rows.items()]
        )
    ]
    ratios = []
    for m in metrics:
        for impl, t in DAFFI_ROWS:
            if daffi_runs(rows, impl, t) is not None:
                key, d = best_daffi(rows, impl, t, m)
                vs = [
                    ratio_text(ratio(d, a), m)
                    if (a := stat(rows.get(ak), m.key))
                    else "anchor " + short_fail(rows.get(ak), m)
                    for ak, _ in ANCHORS
                ]
                ratios.append([f"{m.label.split(' ', 1)[1]}, {ROW_LABELS.get(key, key)}", *vs])
    parts.append(pages.table(["daffi ÷ anchor", "vs daffi 2.2.1", "vs daffi 3.0.1", "vs grpc relay"], ratios))
    if workload == "w6":
        per_caller = [
            [ROW_LABELS.get(k, k), fmt(lo.median), fmt(hi.median)]
            for k, runs in rows.items()
            if (lo := stat(runs, "per_caller_min")) and (hi := stat(runs, "per_caller_max"))
        ]
        parts.append(
            pages.table(["implementation", "slowest caller (calls/s)", "fastest caller (calls/s)"], per_caller)
        )
    return "\n\n".join(parts)


def startup_table(cells: Cells) -> str:
    rows = [
        [ROW_LABELS.get(k, k), f"**{s.median:.2f}** ({s.low:.2f}–{s.high:.2f})", s.n]
        for k, s in sorted(ready_stats(cells).items())
    ]
    return pages.table(["implementation", "start → ready, median (min–max), s", "starts"], rows)


def soak_table(soak: dict[str, Any]) -> str | None:
    rows = []
    for key, r in soak.items():
        steps = r.get("steps", {})
        after = " / ".join(
            f"{steps[w + '_mem'].get('VmRSS', 0):.0f}" if w + "_mem" in steps else "—" for w in WORKLOADS[:5]
        )
        notes = [f"{w}: {v['error'][:80]}" for w, v in steps.items() if isinstance(v, dict) and "error" in v]
        notes += [str(r["error"])[:120]] if "error" in r else []
        hwm = r.get("controller_mem", {}).get("VmHWM")
        rows.append([ROW_LABELS.get(key, key), f"**{hwm:.0f}**" if hwm else "—", after, "; ".join(notes)])
    header = ["implementation", "peak RSS, MiB", "RSS after W1 / W2 / W3 / W4 / W5, MiB", "notes"]
    return pages.table(header, rows) if rows else None


def cpu_table(cells: Cells, data: dict[str, Any]) -> str:
    rows = []
    for key, runs in {**cells.get("w1", {}), **data.get("variants", {})}.items():
        p50, mean, cpu = stat(runs, "p50_us"), stat(runs, "mean_us"), [stat(runs, k) for k in CPU_KEYS]
        if p50 and mean and all(cpu):
            total = sum(c.median for c in cpu if c)
            rows.append(
                [
                    ROW_LABELS.get(key, key),
                    f"{p50.median:.0f}",
                    *(f"{c.median:.0f}" for c in cpu if c),
                    f"{total:.0f}",
                    f"{mean.median:.0f}",
                    f"{total / mean.median:.2f}",
                ]
            )
    header = [
        "implementation",
        "p50 µs",
        "caller CPU µs/call",
        "controller CPU µs/call",
        "callee CPU µs/call",
        "sum",
        "mean µs",
        "sum ÷ mean (cores busy)",
    ]
    return pages.table(header, rows)


def pyspy_table(profiles: dict[str, Any]) -> str | None:
    out = []
    for key, prof in profiles.items():
        if "profile" not in prof:
            continue
        label = ROW_LABELS.get(key, key)
        out += [
            f"**{label}**, W1 with py-spy attached ({prof.get('duration_s', 0):.0f} s, {prof.get('calls', '?')} calls,"
            f" p50 {prof.get('p50_us', 0):.0f} µs):",
            "",
        ]
        for role in ("caller", "controller", "callee"):
            p = prof["profile"].get(role, {})
            if "error" in p:
                out += [f"- **{role}**: py-spy failed: {p['error']}"]
                continue
            cpu = prof.get(f"{role}_cpu_us_per_call")
            out += [
                f"- **{role}**: busy {p.get('busy_cores', 0):.2f} cores in Python"
                + (f", /proc CPU {cpu:.0f} µs/call" if cpu else ""),
                "  - busy by thread (cores): " + ", ".join(f"`{k}` {v:.2f}" for k, v in p.get("threads", {}).items()),
                "  - self time by area: " + ", ".join(f"{k} {v:.0%}" for k, v in p.get("categories", []) if v >= 0.02),
                "  - top self frames: " + "; ".join(f"`{k}` {v:.0%}" for k, v in p.get("top_self", [])[:6]),
                "  - daffi frames, inclusive: "
                + "; ".join(f"`{k}` {v:.0%}" for k, v in p.get("top_inclusive", [])[:6]),
            ]
        out.append("")
    return "\n".join(out) if out else None


def failures_table(cells: Cells) -> str:
    found = []
    for workload, rows in cells.items():
        for key, runs in rows.items():
            for i, r in enumerate(runs):
                errors = ([concise(str(r["error"]))] if "error" in r else []) + [
                    f"{k}: {v}" for k, v in r.items() if k.endswith("_error")
                ]
                found += [f"- {workload} {ROW_LABELS.get(key, key)}, run {i + 1}: {e[:300]}" for e in errors]
    out = "\n".join(found or ["- none"])
    background = [
        float(r["background_busy"])
        for rows in cells.values()
        for runs in rows.values()
        for r in runs
        if "background_busy" in r
    ]
    if background:
        busy = sum(1 for b in background if b > 0.25)
        out += (
            f"\n\nOther load, over 0.1 s right before each cell (all CPUs): median {statistics.median(background):.0%},"
            f" max {max(background):.0%}; {busy} of {len(background)} cells started with more than 25% busy."
        )
    return out


def write(data: dict[str, Any], path: Path) -> None:
    """Fill the page's tables from ``data`` and draw the chart beside it."""
    cells: Cells = data.get("cells", {})
    tables: dict[str, str | None] = {
        "run": run_table(data),
        "machine": machine_table(data.get("machine", {})),
        "summary": summary_table(cells, data),
        "targets-socket": socket_targets(cells, data),
        "targets-grpc": grpc_targets(cells, data),
        "previous": previous_table(cells, data),
        **{w: workload_table(w, cells[w]) for w in WORKLOADS if w in cells},
        "startup": startup_table(cells),
        "soak": soak_table(data.get("soak", {})),
        "cpu": cpu_table(cells, data) if "w1" in cells else None,
        "pyspy": pyspy_table(data.get("profiles", {})),
        "failures": failures_table(cells),
    }
    pages.fill(path, "bench", {k: v for k, v in tables.items() if v})
    write_chart(cells, path.with_suffix(".png"))


# --- the chart ------------------------------------------------------------------------------

COLORS = {
    "daffi socket, TCP vs daffi 3.0.1": "#1f77b4",
    "daffi socket, UNIX vs daffi 3.0.1": "#aec7e8",
    "daffi gRPC, TCP vs daffi 3.0.1": "#ff7f0e",
    "daffi gRPC, UNIX vs daffi 3.0.1": "#ffbb78",
    "daffi socket, TCP vs daffi 2.2.1": "#2ca02c",
    "daffi socket, TCP vs grpc relay": "#98df8a",
}


def write_chart(cells: Cells, path: Path) -> bool:
    """How many times better each daffi row is than an anchor, per metric (log scale); False without matplotlib."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    # every daffi row against daffi 3.0.1 (the targets' anchor), the socket transport also against the others
    names = [(impl, t, "daffi3-tcp", f"{ROW_LABELS[f'{impl}-{t}']} vs daffi 3.0.1") for impl, t in DAFFI_ROWS]
    names += [("daffi-socket", "tcp", a, f"daffi socket, TCP vs {label}") for a, label in ANCHORS if a != "daffi3-tcp"]
    labels: list[str] = []
    series: dict[str, list[float]] = {}
    for m in METRICS:
        if m.workload not in cells or m.key == "fairness_min_max":
            continue
        labels.append(m.short)
        for impl, transport, anchor, name in names:
            r = ratio(best_daffi(cells[m.workload], impl, transport, m)[1], stat(cells[m.workload].get(anchor), m.key))
            series.setdefault(name, []).append(float("nan") if r is None else r if m.higher_better else 1 / r)
    series = {k: v for k, v in series.items() if any(x == x for x in v)}  # drop rows with no number at all
    if not labels or not series:
        return False
    fig, ax = plt.subplots(figsize=(13, 5.5))
    width = 0.8 / len(series)
    for i, (name, vals) in enumerate(series.items()):
        xs = [x + (i - len(series) / 2 + 0.5) * width for x in range(len(labels))]
        ax.bar(xs, vals, width, label=name, color=COLORS.get(name))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(list(range(len(labels))))
    ax.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("daffi better by (×), log scale")
    ax.set_title("daffi (this repo, socket and gRPC transports) relative to the anchors — above 1 daffi leads")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
