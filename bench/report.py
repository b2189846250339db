# ruff: noqa: RUF001, RUF003  (the tables are typographic: ×, –, ÷ are meant)
"""Fills the tables of ``docs/benchmarks.md`` (between its ``<!-- bench:table NAME -->`` markers) and
draws ``docs/benchmarks.png`` from the harness's results; the page's prose is edited by hand.

A row key names an implementation, a transport and, for some rows, a variant: ``daffi-socket-tcp-bg``,
``daffi3-unix``, ``daffi-grpc-tcp-pinned``. A daffi *row* (``daffi-socket-tcp``) stands for every key it
begins (W2's two in-flight modes), and its number is the best of them.
"""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from tools import pages

Runs = list[dict[str, Any]]
Rows = dict[str, Runs]
Cells = dict[str, Rows]

NAMES = {
    "daffi-socket": "daffi socket",
    "daffi-grpc": "daffi gRPC",
    "daffi2": "daffi 2.2.1",
    "daffi3": "daffi 3.0.1 (router)",
    "relay": "grpc.aio relay",
}
PARTS = {
    "tcp": "TCP",
    "unix": "UNIX",
    "bg": "64 BG futures",
    "threads": "64 threads",
    "pinned": "all processes on CPU 0 (taskset)",
    "poll": "GRPC_POLL_STRATEGY=poll",
}
ANCHORS = (("daffi2-tcp", "daffi 2.2.1"), ("daffi3-tcp", "daffi 3.0.1"), ("relay-tcp", "grpc relay"))
TRANSPORTS = ("tcp", "unix")
#: the daffi rows of the summary, the targets and the chart
DAFFI_ROWS = tuple(f"{impl}-{t}" for impl in ("daffi-socket", "daffi-grpc") for t in TRANSPORTS)
#: "no slower than before": the gRPC transport's median may be this much worse than the previous run's
GRPC_TOLERANCE = 0.10
WORKLOADS = ("w1", "w2", "w3", "w4", "w5", "w6", "w7")


def label(key: str) -> str:
    """``daffi-socket-tcp-bg`` → ``daffi socket, TCP, 64 BG futures``."""
    impl = next((name for name in NAMES if key.startswith(name + "-")), None)
    if impl is None:
        return key
    return ", ".join([NAMES[impl], *(PARTS.get(part, part) for part in key[len(impl) + 1 :].split("-"))])


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

    def better(self, ratio: float, factor: float = 1.0) -> bool:
        """``ratio`` (this ÷ that) is at least ``factor`` in this metric's good direction."""
        return ratio >= factor if self.higher_better else ratio <= factor

    def within(self, ratio: float) -> bool:
        """This run ÷ the previous one is at most :data:`GRPC_TOLERANCE` worse."""
        return self.better(ratio, 1 - GRPC_TOLERANCE if self.higher_better else 1 + GRPC_TOLERANCE)


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
ROLES = ("caller", "controller", "callee")
CPU_KEYS = tuple(f"{role}_cpu_us_per_call" for role in ROLES)


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

    @classmethod
    def of(cls, values: list[float]) -> Stat | None:
        return cls(statistics.median(values), min(values), max(values), len(values)) if values else None


def stat(runs: Runs | None, key: str) -> Stat | None:
    return Stat.of([float(r[key]) for r in runs or [] if key in r and "error" not in r])


def concise(error: str) -> str:
    """``controller exited with 1: ... | a traceback line | SomeError: why`` → ``controller ...: SomeError: why``."""
    if " | " not in error:
        return error
    return f"{error.split(':', 1)[0]}: {error.rsplit(' | ', 1)[1].strip()}"


def short_fail(runs: Runs | None, m: Metric, width: int = 90) -> str:
    """Why a cell has no value for a metric (``—``: it did not run)."""
    if not runs:
        return "—"
    part = f"{m.key.split('_')[0]}_error"  # W3 records each size's failure apart
    why = next((str(r.get("error", r.get(part))) for r in runs if "error" in r or part in r), "")
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
    failed = f", {errors} of {len(runs)} runs failed" if errors else ""
    return f"**{fmt(s.median, m.digits)}**{spread} n={s.n}{failed}"


def of_row(key: str, base: str) -> bool:
    """``key`` is the row ``base`` or one of its variants."""
    return key == base or key.startswith(base + "-")


def runs_of(rows: Rows, base: str) -> Runs | None:
    """Every run of a row (``daffi-socket-tcp``: its W2 in-flight modes together); None: not run."""
    return [r for k, v in rows.items() if of_row(k, base) for r in v] or None


def best(rows: Rows, base: str, m: Metric) -> tuple[str, Stat | None]:
    """The key and numbers of a row (for W2 the faster of BG futures and threads)."""
    found = [(k, s) for k, v in rows.items() if of_row(k, base) and (s := stat(v, m.key))]
    if not found:
        return base, None
    return (max if m.higher_better else min)(found, key=lambda ks: ks[1].median)


def value(rows: Rows, base: str, m: Metric) -> str:
    """A row's median, or why it has none."""
    s = best(rows, base, m)[1]
    return fmt(s.median, m.digits) if s else short_fail(runs_of(rows, base), m)


def ratio(a: Stat | None, b: Stat | None) -> float | None:
    return a.median / b.median if a and b and b.median else None


def ready_stats(cells: Cells) -> dict[str, Stat]:
    """Controller start → ready over every cell of an implementation and transport."""
    samples: dict[str, list[float]] = {}
    for rows in cells.values():
        for key, runs in rows.items():
            base = "-".join(key.split("-")[: 3 if key.startswith("daffi-") else 2])
            samples.setdefault(base, []).extend(float(r["ready_s"]) for r in runs if "ready_s" in r)
    return {k: s for k, v in samples.items() if (s := Stat.of(v))}


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


def peak_rss(soak: dict[str, Any], key: str) -> float | None:
    """The controller's VmHWM at the end of the one-controller run of a row."""
    hwm = soak.get(key, {}).get("controller_mem", {}).get("VmHWM")
    return float(hwm) if hwm else None


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
    columns = [*DAFFI_ROWS, *(key for key, _ in ANCHORS)]
    header = ["metric", *(label(k) for k in DAFFI_ROWS), "daffi 2.2.1", "daffi 3.0.1", "grpc.aio relay"]
    rows = [[m.title, *(value(cells[m.workload], k, m) for k in columns)] for m in METRICS if m.workload in cells]
    if data.get("soak"):
        row = ["controller peak RSS after W1–W5 on one controller (MiB, ↓)"]
        for key in columns:
            hwm = peak_rss(data["soak"], key)
            row.append("—" if hwm is None else f"{hwm:.0f}" + (" (run failed)" if "error" in data["soak"][key] else ""))
        rows.append(row)
    ready = ready_stats(cells)
    if ready:
        rows.append(
            ["controller start → ready (s, ↓)", *(f"{ready[k].median:.2f}" if k in ready else "—" for k in columns)]
        )
    return pages.table(header, rows)


class Targets:
    """The rows of a targets table: target, daffi row, measured, met."""

    def __init__(self, cells: Cells, data: dict[str, Any]) -> None:
        self.cells, self.data = cells, data
        self.rows: list[list[str]] = []

    def row(self, target: str, base: str, measured: str, ok: bool) -> None:
        self.rows.append([target, label(base), measured, "✓" if ok else "✗"])

    def ratio(self, target: str, metric: tuple[str, str], base: str, anchor: str, factor: float) -> None:
        """daffi ÷ anchor ≥ factor (higher is better) or ≤ factor (lower is better)."""
        m = BY_KEY[metric]
        rows = self.cells.get(m.workload, {})
        if runs_of(rows, base) is None or anchor not in rows:
            return  # not run (e.g. --impls): no verdict
        d, a = best(rows, base, m)[1], stat(rows[anchor], m.key)
        r = ratio(d, a)
        if r is None or d is None or a is None:
            why = short_fail(runs_of(rows, base), m) if d is None else "anchor: " + short_fail(rows[anchor], m)
            self.row(target, base, f"no number ({why})", False)
            return
        ok = m.better(r, factor)
        gap = "" if ok else f", needs {factor / r:.2f}× more" if m.higher_better else f", needs {r / factor:.2f}× less"
        self.row(target, base, f"{r:.2f}× ({fmt(d.median, m.digits)} vs {fmt(a.median, m.digits)} {m.unit}){gap}", ok)

    def works(self, base: str) -> None:
        """W3's 64 MiB echo succeeded in every run."""
        runs = self.cells.get("w3", {}).get(base)
        if runs:
            s = stat(runs, "64MiB_MBps")
            text = f"{fmt(s.median)} MB/s" if s else short_fail(runs, BY_KEY[("w3", "64MiB_MBps")])
            text += f", {len(runs) - s.n} of {len(runs)} runs failed" if s and s.n < len(runs) else ""
            self.row("W3 64 MiB works", base, text, bool(s and s.n == len(runs)))

    def ready(self, base: str, limit: float) -> None:
        s = ready_stats(self.cells).get(base)
        if s:
            text = f"{s.median:.2f} s (median of {s.n} starts, {s.low:.2f}–{s.high:.2f})"
            text += f", needs {s.median / limit:.2f}× less" if s.median > limit else ""
            self.row(f"controller start → ready ≤ {limit:g} s", base, text, s.median <= limit)

    def rss(self, base: str, limit: float) -> None:
        r = self.data.get("soak", {}).get(base)
        if r:
            target, hwm = f"controller peak RSS ≤ {limit:g} MiB after W1–W5", peak_rss(self.data["soak"], base)
            if hwm is None:
                self.row(target, base, f"no number ({str(r.get('error', '?'))[:80]})", False)
                return
            text = f"{hwm:.0f} MiB" + (f" (run failed: {str(r['error'])[:80]})" if "error" in r else "")
            text += f", needs {hwm - limit:.0f} MiB less" if hwm > limit else ""
            self.row(target, base, text, hwm <= limit and "error" not in r)

    def table(self) -> str | None:
        return pages.table(["target", "daffi row", "measured", "met?"], self.rows) if self.rows else None


def socket_targets(cells: Cells, data: dict[str, Any]) -> str | None:
    """The socket transport's targets: ratios over TCP against daffi 3.0.1 in the same run."""
    t, tcp, unix, d3 = Targets(cells, data), "daffi-socket-tcp", "daffi-socket-unix", "daffi3-tcp"
    t.ratio("W1 p50 ≤ 0.6× daffi 3.0.1", ("w1", "p50_us"), tcp, d3, 0.6)
    if stat(cells.get("w1", {}).get("daffi3-unix"), "p50_us") is not None:
        t.ratio("W1 p50 ≤ 0.5× daffi 3.0.1 on UNIX", ("w1", "p50_us"), unix, "daffi3-unix", 0.5)
    else:
        t.ratio("W1 p50 ≤ 0.5× daffi 3.0.1 (its UNIX run has no number: vs its TCP)", ("w1", "p50_us"), unix, d3, 0.5)
    t.ratio("W1 p99 ≤ daffi 3.0.1 p99", ("w1", "p99_us"), tcp, d3, 1.0)
    t.ratio("W2 ≥ 1.5× daffi 3.0.1", ("w2", "calls_per_s"), tcp, d3, 1.5)
    t.ratio("W3 1 MiB ≥ 1.5× daffi 3.0.1", ("w3", "1MiB_MBps"), tcp, d3, 1.5)
    t.works(tcp)
    t.works(unix)
    t.ratio("W4 ≥ 2× daffi 3.0.1", ("w4", "items_per_s"), tcp, d3, 2.0)
    t.ratio("W5 ≥ 1× daffi 3.0.1", ("w5", "broadcasts_per_s"), tcp, d3, 1.0)
    t.ratio("W6 ≥ 1× daffi 3.0.1", ("w6", "calls_per_s"), tcp, d3, 1.0)
    for transport in TRANSPORTS:
        compared = [c for c in grpc_comparison(cells, data.get("previous"), transport) if c[3] is not None]
        if compared:
            worse = [(m, r) for m, _, _, r, ok in compared if not ok]
            text = f"{len(compared) - len(worse)} of {len(compared)} metrics within {GRPC_TOLERANCE:.0%} of the"
            text += " previous run"
            if worse:
                slower = (f"{m.short} {r:.2f}× {'↑' if m.higher_better else '↓'}" for m, r in worse)
                text += "; slower (this ÷ previous): " + ", ".join(slower)
            t.row("gRPC transport no slower than before", f"daffi-grpc-{transport}", text, not worse)
    for limit, check in ((80, t.rss), (0.2, t.ready)):
        for base in (tcp, unix):
            check(base, limit)
    return t.table()


def grpc_targets(cells: Cells, data: dict[str, Any]) -> str | None:
    """The targets of issue 4 (before the socket transport), kept for the gRPC transport."""
    t, d3 = Targets(cells, data), "daffi3-tcp"
    checks = (
        ("W1 p50 ≤ grpc relay p50", ("w1", "p50_us"), "relay-tcp", 1.0),
        ("W1 p50 ≤ 0.4× daffi 2.2.1", ("w1", "p50_us"), "daffi2-tcp", 0.4),
        ("W2 ≥ 2× daffi 3.0.1", ("w2", "calls_per_s"), d3, 2.0),
        ("W3 1 MiB ≥ 1.5× daffi 3.0.1", ("w3", "1MiB_MBps"), d3, 1.5),
        ("W3 64 MiB works", ("w3", "64MiB_MBps"), "", 0.0),
        ("W4 ≥ 1.5× daffi 3.0.1", ("w4", "items_per_s"), d3, 1.5),
        ("W5 ≥ 2× daffi 3.0.1", ("w5", "broadcasts_per_s"), d3, 2.0),
    )
    bases = [f"daffi-grpc-{transport}" for transport in TRANSPORTS]
    for target, metric, anchor, factor in checks:
        for base in bases:
            if anchor:
                t.ratio(target, metric, base, anchor, factor)
            else:
                t.works(base)
    for limit, check in ((0.3, t.ready), (100, t.rss)):
        for base in bases:
            check(base, limit)
    return t.table()


def grpc_comparison(
    cells: Cells, previous: dict[str, Any] | None, transport: str, metrics: tuple[Metric, ...] = GRPC_JUDGED
) -> list[tuple[Metric, Stat | None, Stat | None, float | None, bool]]:
    """(metric, this run, previous run, this ÷ previous, within tolerance) of the gRPC transport's row."""
    out = []
    base = f"daffi-grpc-{transport}"
    for m in metrics if previous else ():
        now = best(cells.get(m.workload, {}), base, m)[1]
        before = best(previous["cells"].get(m.workload, {}) if previous else {}, base, m)[1]
        r = ratio(now, before)
        out.append((m, now, before, r, r is not None and m.within(r)))
    return out


def previous_table(cells: Cells, data: dict[str, Any]) -> str | None:
    """The gRPC transport's medians next to the previous run's."""
    previous = data.get("previous")
    if not previous:
        return None
    rows = []
    shown = tuple(m for m in METRICS if m.key != "controller_rss_mib")
    for m, transport in ((m, t) for m in shown for t in TRANSPORTS):
        _, now, before, r, ok = grpc_comparison(cells, previous, transport, (m,))[0]
        if now is None:  # not in this run (e.g. gRPC over UNIX beyond W1)
            continue
        verdict = "—" if r is None else "(not judged)" if m not in GRPC_JUDGED else "✓" if ok else "✗"
        was = fmt(before.median, m.digits) if before else "—"
        times = f"{r:.2f}×" if r else "—"
        rows.append([m.title, label(f"daffi-grpc-{transport}"), fmt(now.median, m.digits), was, times, verdict])
    for key in (f"daffi-grpc-{transport}" for transport in TRANSPORTS):
        now_hwm, was_hwm = peak_rss(data.get("soak", {}), key), peak_rss(previous.get("soak", {}), key)
        if now_hwm:
            times, was = (f"{now_hwm / was_hwm:.2f}×", f"{was_hwm:.0f}") if was_hwm else ("—", "—")
            row = ["controller peak RSS after W1–W5 (MiB, ↓)", label(key), f"{now_hwm:.0f}", was, times, "(not judged)"]
            rows.append(row)
    sources = ", ".join(sorted(set(previous.get("started", {}).values()))) or "?"
    header = ["metric", "daffi row", "this run", "previous run", "this ÷ previous", "within?"]
    return f"Previous run(s): {sources} (UTC).\n\n" + pages.table(header, rows)


def workload_table(workload: str, rows: Rows) -> str:
    """Every row of one workload, then each daffi row ÷ each anchor (W6: and the per-caller rates)."""
    metrics = [m for m in METRICS if m.workload == workload]
    header = ["implementation"] + [m.title.split(" ", 1)[1] for m in metrics]
    parts = [pages.table(header, [[label(k)] + [cell_text(runs, m) for m in metrics] for k, runs in rows.items()])]
    ratios = []
    for m in metrics:
        for base in DAFFI_ROWS:
            if runs_of(rows, base) is not None:
                key, d = best(rows, base, m)
                vs = []
                for anchor, _ in ANCHORS:
                    r = ratio(d, a) if (a := stat(rows.get(anchor), m.key)) else None
                    if a is None:
                        vs.append("anchor " + short_fail(rows.get(anchor), m))
                    else:
                        vs.append("—" if r is None else f"{r:.2f}× {'✓' if (r > 1) == m.higher_better else '✗'}")
                ratios.append([f"{m.label.split(' ', 1)[1]}, {label(key)}", *vs])
    parts.append(pages.table(["daffi ÷ anchor", *(f"vs {name}" for _, name in ANCHORS)], ratios))
    if workload == "w6":
        per_caller = [
            [label(k), fmt(lo.median), fmt(hi.median)]
            for k, runs in rows.items()
            if (lo := stat(runs, "per_caller_min")) and (hi := stat(runs, "per_caller_max"))
        ]
        parts.append(
            pages.table(["implementation", "slowest caller (calls/s)", "fastest caller (calls/s)"], per_caller)
        )
    return "\n\n".join(parts)


def startup_table(cells: Cells) -> str:
    rows = [
        [label(k), f"**{s.median:.2f}** ({s.low:.2f}–{s.high:.2f})", s.n] for k, s in sorted(ready_stats(cells).items())
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
        hwm = peak_rss(soak, key)
        rows.append([label(key), f"**{hwm:.0f}**" if hwm else "—", after, "; ".join(notes)])
    header = ["implementation", "peak RSS, MiB", "RSS after W1 / W2 / W3 / W4 / W5, MiB", "notes"]
    return pages.table(header, rows) if rows else None


CPU_HEADER = (
    "implementation",
    "p50 µs",
    *(f"{r} CPU µs/call" for r in ROLES),
    "sum",
    "mean µs",
    "sum ÷ mean (cores busy)",
)


def cpu_table(cells: Cells, data: dict[str, Any]) -> str:
    rows = []
    for key, runs in {**cells.get("w1", {}), **data.get("variants", {})}.items():
        p50, mean, cpu = stat(runs, "p50_us"), stat(runs, "mean_us"), [stat(runs, k) for k in CPU_KEYS]
        if p50 and mean and all(cpu):
            medians = [c.median for c in cpu if c]
            total = sum(medians)
            each = (f"{v:.0f}" for v in (p50.median, *medians, total, mean.median))
            rows.append([label(key), *each, f"{total / mean.median:.2f}"])
    return pages.table(CPU_HEADER, rows)


def pyspy_table(profiles: dict[str, Any]) -> str | None:
    out = []
    for key, prof in profiles.items():
        if "profile" not in prof:
            continue
        out += [
            f"**{label(key)}**, W1 with py-spy attached ({prof.get('duration_s', 0):.0f} s,"
            f" {prof.get('calls', '?')} calls, p50 {prof.get('p50_us', 0):.0f} µs):",
            "",
        ]
        for role in ROLES:
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
    found, background = [], []
    for workload, rows in cells.items():
        for key, runs in rows.items():
            for i, r in enumerate(runs):
                errors = ([concise(str(r["error"]))] if "error" in r else []) + [
                    f"{k}: {v}" for k, v in r.items() if k.endswith("_error")
                ]
                found += [f"- {workload} {label(key)}, run {i + 1}: {e[:300]}" for e in errors]
                background += [float(r["background_busy"])] if "background_busy" in r else []
    out = "\n".join(found or ["- none"])
    if background:
        busy = sum(1 for b in background if b > 0.25)
        out += (
            f"\n\nOther load, over 0.1 s right before each cell (all CPUs): median {statistics.median(background):.0%},"
            f" max {max(background):.0%}; {busy} of {len(background)} cells started with more than 25% busy."
        )
    return out


def metrics_table(ab: dict[str, Any]) -> str | None:
    """W2 with the metrics endpoints off and on, pair by pair, the medians and the overhead."""
    m = BY_KEY[("w2", "calls_per_s")]
    off, on = (ab.get("runs", {}).get(side, []) for side in ("off", "on"))
    if not off and not on:
        return None

    def rate(runs: Runs) -> str:
        s = stat(runs, m.key)
        return fmt(s.median) if s else short_fail(runs, m)

    rows, ratios = [], []
    for i, (a, b) in enumerate(zip(off, on, strict=False)):  # the off and on runs of one rep, one after the other
        q = float(b[m.key]) / a[m.key] if m.key in a and m.key in b else None
        if q is not None:
            ratios.append(q)
        rows.append([f"{i + 1}", rate([a]), rate([b]), "—" if q is None else f"{q:.3f}"])
    paired = Stat.of(ratios)
    rows.append(["**median**", rate(off), rate(on), f"{paired.median:.3f}" if paired else "—"])
    note = f"Run of {ab.get('started', '?')} (UTC), {len(off)} repetitions each"
    r = ratio(stat(on, m.key), stat(off, m.key))
    if r is not None and paired:
        note += f"; overhead (1 − on ÷ off) of the medians **{1 - r:.1%}**, of the pairs **{1 - paired.median:.1%}**"
    counted: dict[str, Any] = next(
        (run["metrics_calls_counted"] for run in on[::-1] if "metrics_calls_counted" in run), {}
    )
    where = ", ".join(f"{name} {n:,.0f}" if isinstance(n, float) else f"{name}: {n}" for name, n in counted.items())
    note += f". Calls counted by the endpoints in the last rep with metrics on: {where}." if where else "."
    header = ["pair", "metrics off (calls/s, ↑)", "metrics on (calls/s, ↑)", "on ÷ off"]
    return note + "\n\n" + pages.table(header, rows)


def nats_table(compared: dict[str, Any]) -> str | None:
    """W1, W2 and W5 per row of the NATS comparison (``python -m bench --nats``): medians, with the range."""
    runs: dict[str, dict[str, Runs]] = compared.get("runs", {})
    if not runs:
        return None
    judged = [BY_KEY[("w1", "p50_us")], BY_KEY[("w2", "calls_per_s")], BY_KEY[("w5", "broadcasts_per_s")]]

    def cell(row_runs: Runs, m: Metric) -> str:
        s = stat(row_runs, m.key)
        return (
            f"{fmt(s.median, m.digits)} ({fmt(s.low, m.digits)}–{fmt(s.high, m.digits)})"
            if s
            else short_fail(row_runs, m)
        )

    reps = max((len(r) for row in runs.values() for r in row.values()), default=0)
    note = f"Run of {compared.get('started', '?')} (UTC), {reps} repetitions; median (min–max)."
    header = ["transport"] + [m.title for m in judged]
    rows = [[row] + [cell(by_workload.get(m.workload, []), m) for m in judged] for row, by_workload in runs.items()]
    return note + "\n\n" + pages.table(header, rows)


def write_nats(compared: dict[str, Any], path: Path) -> None:
    """Fill the NATS comparison's table in ``path`` (docs/scaling.md)."""
    table = nats_table(compared)
    if table:
        pages.fill(path, "bench", {"nats": table})


def write(data: dict[str, Any], path: Path, metrics: dict[str, Any] | None = None) -> None:
    """Fill the page's tables from ``data`` (and the metrics A/B run) and draw the chart beside it."""
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
        "metrics": metrics_table(metrics or {}),
    }
    pages.fill(path, "bench", {k: v for k, v in tables.items() if v})
    write_chart(cells, path.with_suffix(".png"))


# --- the chart ------------------------------------------------------------------------------


def write_chart(cells: Cells, path: Path) -> bool:
    """How many times better each daffi row is than an anchor, per metric (log scale); False without matplotlib."""
    try:
        import matplotlib  # type: ignore[import-not-found,unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return False
    # every daffi row against daffi 3.0.1 (the targets' anchor), the socket transport also against the others
    names = [(base, "daffi3-tcp", f"{label(base)} vs daffi 3.0.1") for base in DAFFI_ROWS]
    names += [("daffi-socket-tcp", a, f"daffi socket, TCP vs {name}") for a, name in ANCHORS if a != "daffi3-tcp"]
    labels: list[str] = []
    series: dict[str, list[float]] = {}
    for m in METRICS:
        if m.workload not in cells or m.key == "fairness_min_max":
            continue
        labels.append(m.short)
        for base, anchor, name in names:
            r = ratio(best(cells[m.workload], base, m)[1], stat(cells[m.workload].get(anchor), m.key))
            series.setdefault(name, []).append(float("nan") if r is None else r if m.higher_better else 1 / r)
    series = {k: v for k, v in series.items() if any(x == x for x in v)}  # drop rows with no number at all
    if not labels or not series:
        return False
    fig, ax = plt.subplots(figsize=(13, 5.5))
    width = 0.8 / len(series)
    colors = plt.get_cmap("tab20")  # pairs of a dark and a light shade: TCP and UNIX of one transport
    for i, (name, vals) in enumerate(series.items()):
        xs = [x + (i - len(series) / 2 + 0.5) * width for x in range(len(labels))]
        ax.bar(xs, vals, width, label=name, color=colors([n for _, _, n in names].index(name)))
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
