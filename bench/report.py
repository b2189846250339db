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
TRANSPORTS = (("tcp", "TCP"), ("unix", "UNIX"))
#: daffi from this repo, one implementation per transport (harness.IMPLS keys and labels)
DAFFI = (("daffi-socket", "daffi socket"), ("daffi-grpc", "daffi gRPC"))
#: the daffi rows of the summary, in order: (implementation, transport)
DAFFI_ROWS = tuple((impl, t) for impl, _ in DAFFI for t, _ in TRANSPORTS)
#: "no slower than before": the gRPC transport's median may be this much worse than the previous run's
GRPC_TOLERANCE = 0.10


def _row_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for impl, name in DAFFI:
        for t, tname in TRANSPORTS:
            labels[f"{impl}-{t}"] = f"{name}, {tname}"
            labels[f"{impl}-{t}-bg"] = f"{name}, {tname}, 64 BG futures"
            labels[f"{impl}-{t}-threads"] = f"{name}, {tname}, 64 threads"
            labels[f"{impl}-{t}-pinned"] = f"{name}, {tname}, all processes on CPU 0 (taskset)"
    labels["daffi-grpc-tcp-poll"] = "daffi gRPC, TCP, GRPC_POLL_STRATEGY=poll"
    for t, tname in TRANSPORTS:
        labels[f"daffi2-{t}"] = f"daffi 2.2.1, {tname}"
        labels[f"daffi3-{t}"] = f"daffi 3.0.1 (router), {tname}"
        labels[f"relay-{t}"] = f"grpc.aio relay, {tname}"
    labels["relay-tcp-pinned"] = "grpc relay TCP, all on CPU 0"
    labels["daffi3-tcp-pinned"] = "daffi 3.0.1 TCP, all on CPU 0"
    return labels


ROW_LABELS = _row_labels()


def split_key(key: str) -> tuple[str, str, str]:
    """``daffi-grpc-tcp-bg`` → (``daffi-grpc``, ``tcp``, ``bg``)."""
    parts = key.split("-")
    for i, part in enumerate(parts):
        if part in ("tcp", "unix"):
            return "-".join(parts[:i]), part, "-".join(parts[i + 1 :])
    return key, "", ""


def legacy_key(key: str) -> str:
    """Results from before the socket transport call daffi's (gRPC) rows ``daffi-tcp``, ``daffi-unix-bg``."""
    impl, transport, rest = split_key(key)
    if impl != "daffi":
        return key
    return "-".join(p for p in ("daffi-grpc", transport, rest) if p)


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """The results with legacy daffi keys renamed (so old latest.json files still report)."""
    out = dict(data)
    out["cells"] = {w: {legacy_key(k): v for k, v in rows.items()} for w, rows in data.get("cells", {}).items()}
    out["variants"] = {legacy_key(k): v for k, v in data.get("variants", {}).items()}
    out["soak"] = {legacy_key(k): v for k, v in data.get("soak", {}).items()}
    profiles = dict(data.get("profiles", {}))
    if "profile" in data and not profiles:
        profiles["daffi-grpc-tcp"] = data["profile"]
    out["profiles"] = profiles
    return out


def previous_run(old: dict[str, Any]) -> dict[str, Any] | None:
    """What a new run keeps of the results it replaces: the gRPC transport's cells and soak.

    Per workload the newest full (not ``--quick``) run that has it; a quick run only passes on
    what it had carried itself.
    """
    carried: dict[str, Any] = old.get("previous") or {}
    cells: dict[str, Any] = dict(carried.get("cells", {}))
    started: dict[str, Any] = dict(carried.get("started", {}))
    soak: dict[str, Any] = dict(carried.get("soak", {}))
    if not old.get("quick"):
        data = normalize(old)
        for workload, rows in data["cells"].items():
            grpc = {k: v for k, v in rows.items() if split_key(k)[0] == "daffi-grpc"}
            if grpc:
                cells[workload] = grpc
                started[workload] = old.get("started", "?")
        grpc_soak = {k: v for k, v in data["soak"].items() if split_key(k)[0] == "daffi-grpc"}
        if grpc_soak:
            soak = grpc_soak
    if not cells and not soak:
        return None
    return {"cells": cells, "started": started, "soak": soak}


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
        "bench": ["daffi-node", "daffi-controller", "daffi-core", "grpcio", "protobuf", "dill", "uvloop"],
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


def best_daffi(cells: dict[str, list[dict[str, Any]]], impl: str, transport: str, m: Metric) -> tuple[str, Stat | None]:
    """The row of a daffi implementation and transport (for W2 the faster of BG futures and threads)."""
    base = f"{impl}-{transport}"
    keys = [k for k in cells if k == base or k.startswith(base + "-")]
    best: tuple[str, Stat | None] = (base, None)
    for k in keys:
        s = stat(cells[k], m.key)
        if s is None:
            continue
        current = best[1]
        if current is None or (s.median > current.median) == m.higher_better:
            best = (k, s)
    return best


def daffi_runs(cells: dict[str, list[dict[str, Any]]], impl: str, transport: str) -> list[dict[str, Any]] | None:
    """All runs of a daffi implementation and transport (None when it did not run)."""
    base = f"{impl}-{transport}"
    runs = [r for k, v in cells.items() if k == base or k.startswith(base + "-") for r in v]
    return runs or None


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
    data = normalize(data)
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
        f" {data.get('duration_s', 0) / 60:.1f} min. Every number below comes from that run, except the"
        " previous run's gRPC-transport numbers that the gRPC rows are compared with."
    )
    if data.get("quick"):
        add("")
        add("> **Quick mode** (`--quick`): small sizes, one repetition. Not comparable with a full run.")
    add("")
    add(
        "daffi from this repo runs as two implementations, the transport given explicitly to both sides"
        " (`python -m daffi_controller --transport X` and `Global(transport=X)`): **daffi socket**"
        " (length-prefixed frames over plain sockets, uvloop) on TCP and UNIX, and **daffi gRPC** on TCP"
        f" and, for {', '.join(w.upper() for w in grpc_unix_workloads(data))} only, UNIX (the default"
        ' transport, `"auto"`, is the socket transport on UNIX and gRPC on TCP). The ready line of each'
        " daffi controller names the transport it serves, and the harness checks it is the one asked for."
    )
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
        f" grpcio {repo.get('grpcio', '?')}, protobuf {repo.get('protobuf', '?')}, dill {repo.get('dill', '?')},"
        f" uvloop {repo.get('uvloop', '?')}; the grpc.aio relay runs in the same environment"
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
    verdicts = add_targets(lines, cells, data)
    verdicts += add_issue4_targets(lines, cells, data)
    add_grpc_previous(lines, cells, data)
    chart = path.with_suffix(".png")
    if write_chart(cells, chart):
        add(f"![daffi ÷ each anchor, per workload]({chart.name})")
        add("")
        add(
            "The chart shows how many times better each daffi row is than an anchor (throughput ÷ throughput,"
            " or anchor latency ÷ daffi latency), log scale; above 1 daffi leads. The UNIX rows are compared"
            " with the anchors' TCP numbers."
        )
        add("")
    add_bounds(lines, verdicts)

    add("## Per workload")
    add("")
    add(
        "Each cell: **median** (min–max) over n repetitions, each in fresh processes"
        " (controller, callees, callers). Ratio columns are daffi ÷ anchor for the same metric"
        " (for W2 the faster of daffi's two in-flight modes); ✓ means daffi is better"
        " (↑ higher is better, ↓ lower is better). Anchors run over TCP, and over UNIX for W1;"
        " the UNIX rows are compared with the anchors' TCP numbers."
    )
    add("")
    for workload in ("w1", "w2", "w3", "w4", "w5", "w6", "w7"):
        if workload in cells:
            add_workload(lines, workload, cells[workload], data)

    add_startup(lines, cells, data)
    add_profile(lines, cells, data)
    add_notes(lines, cells, data)
    path.write_text("\n".join(lines) + "\n")


def grpc_unix_workloads(data: dict[str, Any]) -> list[str]:
    return list(data.get("grpc_unix_workloads", ["w1"]))


def short_label(m: Metric) -> str:
    """``W1 p50``, ``W3 echo 1 MiB``: the metric's label up to its first comma."""
    return m.label.split(",")[0].replace(" sequential add()", " p50" if m.key == "p50_us" else " p99")


def metric_label(m: Metric) -> str:
    return f"{m.label} ({m.unit}, {'↑' if m.higher_better else '↓'})" if m.unit else m.label


def add_summary(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    add = lines.append
    add("## Summary (medians)")
    add("")
    header = [ROW_LABELS[f"{impl}-{t}"] for impl, t in DAFFI_ROWS] + ["daffi 2.2.1", "daffi 3.0.1", "grpc.aio relay"]
    add("| metric | " + " | ".join(header) + " |")
    add("|---|" + "---|" * len(header))
    for m in METRICS:
        if m.workload not in cells:
            continue
        c = cells[m.workload]
        row = [metric_label(m)]
        for impl, transport in DAFFI_ROWS:
            key, s = best_daffi(c, impl, transport, m)
            row.append(fmt(s.median, m.digits) if s else short_fail(daffi_runs(c, impl, transport), m))
        for key, _ in ANCHORS:
            s = stat(c.get(key, []), m.key)
            row.append(fmt(s.median, m.digits) if s else short_fail(c.get(key), m))
        add("| " + " | ".join(row) + " |")
    columns = [f"{impl}-{t}" for impl, t in DAFFI_ROWS] + [key for key, _ in ANCHORS]
    soak = data.get("soak", {})
    if soak:
        row = ["controller peak RSS after W1–W5 on one controller (MiB, ↓)"]
        for key in columns:
            r = soak.get(key, {})
            hwm = r.get("controller_mem", {}).get("VmHWM")
            row.append(f"{hwm:.0f}" + (" (run failed)" if "error" in r else "") if hwm else "—")
        add("| " + " | ".join(row) + " |")
    ready = ready_stats(cells)
    if ready:
        row = ["controller start → ready (s, ↓)"]
        for key in columns:
            s = ready.get(key)
            row.append(f"{s.median:.2f}" if s else "—")
        add("| " + " | ".join(row) + " |")
    add("")
    add(
        f"— : not run (daffi gRPC on UNIX runs {', '.join(w.upper() for w in grpc_unix_workloads(data))} only,"
        " the anchors run over UNIX for W1 only, and the one-controller memory run is over TCP for them)."
    )
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
            impl, transport, _ = split_key(key)
            base = f"{impl}-{transport}" if transport else key
            samples.setdefault(base, []).extend(float(r["ready_s"]) for r in runs if "ready_s" in r)
    return {k: Stat(statistics.median(v), min(v), max(v), len(v)) for k, v in samples.items() if v}


# --- targets --------------------------------------------------------------------------------


@dataclass
class Verdict:
    """One row of a targets table."""

    group: str  # the BOUNDS entry that explains a miss
    target: str
    where: str
    measured: str
    ok: bool


class Targets:
    """Builds a targets table and remembers each row's verdict (for the misses section)."""

    def __init__(self, lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
        self.lines = lines
        self.cells = cells
        self.verdicts: list[Verdict] = []
        self.by = {(m.workload, m.key): m for m in METRICS}

    def row(self, group: str, target: str, where: str, measured: str, ok: bool) -> None:
        self.verdicts.append(Verdict(group, target, where, measured, ok))
        self.lines.append(f"| {target} | {where} | {measured} | {'✓' if ok else '✗'} |")

    def ratio(
        self,
        group: str,
        target: str,
        workload: str,
        key: str,
        impl: str,
        transport: str,
        anchor_key: str,
        factor: float,
    ) -> None:
        """daffi ÷ anchor ≥ factor (higher is better) or ≤ factor (lower is better)."""
        if workload not in self.cells:
            return
        m = self.by[(workload, key)]
        where = ROW_LABELS[f"{impl}-{transport}"]
        rows = self.cells[workload]
        if daffi_runs(rows, impl, transport) is None or anchor_key not in rows:
            return  # not run (e.g. --impls): no verdict
        _, d = best_daffi(rows, impl, transport, m)
        a = stat(rows.get(anchor_key, []), key)
        r = ratio(d, a)
        if r is None or d is None or a is None:
            why = short_fail(daffi_runs(rows, impl, transport), m) if d is None else "anchor: "
            if d is not None:
                why += short_fail(rows.get(anchor_key), m)
            self.row(group, target, where, f"no number ({why})", False)
            return
        ok = r >= factor if m.higher_better else r <= factor
        gap = (
            "" if ok else (f", needs {factor / r:.2f}× more" if m.higher_better else f", needs {r / factor:.2f}× less")
        )
        measured = f"{r:.2f}× ({fmt(d.median, m.digits)} vs {fmt(a.median, m.digits)} {m.unit}){gap}"
        self.row(group, target, where, measured, ok)

    def works(self, group: str, impl: str, transport: str) -> None:
        """W3's 64 MiB echo succeeded in every run."""
        if "w3" not in self.cells:
            return
        runs = self.cells["w3"].get(f"{impl}-{transport}")
        if runs is None:
            return
        s = stat(runs, "64MiB_MBps")
        text = f"{fmt(s.median)} MB/s" if s else short_fail(runs, self.by[("w3", "64MiB_MBps")])
        if s and s.n < len(runs):
            text += f", {len(runs) - s.n} of {len(runs)} runs failed"
        self.row(group, "W3 64 MiB works", ROW_LABELS[f"{impl}-{transport}"], text, bool(s and s.n == len(runs)))

    def ready(self, group: str, impl: str, transport: str, limit: float) -> None:
        s = ready_stats(self.cells).get(f"{impl}-{transport}")
        if s:
            measured = f"{s.median:.2f} s (median of {s.n} starts, {s.low:.2f}–{s.high:.2f})"
            if s.median > limit:
                measured += f", needs {s.median / limit:.2f}× less"
            self.row(
                group,
                f"controller start → ready ≤ {limit:g} s",
                ROW_LABELS[f"{impl}-{transport}"],
                measured,
                s.median <= limit,
            )

    def rss(self, group: str, soak: dict[str, Any], impl: str, transport: str, limit: float) -> None:
        r = soak.get(f"{impl}-{transport}", {})
        hwm = r.get("controller_mem", {}).get("VmHWM")
        if not r:
            return
        if not hwm:
            self.row(
                group,
                f"controller peak RSS ≤ {limit:g} MiB after W1–W5",
                ROW_LABELS[f"{impl}-{transport}"],
                f"no number ({str(r.get('error', '?'))[:80]})",
                False,
            )
            return
        measured = f"{hwm:.0f} MiB" + (f" (run failed: {str(r['error'])[:80]})" if "error" in r else "")
        if hwm > limit:
            measured += f", needs {hwm - limit:.0f} MiB less"
        self.row(
            group,
            f"controller peak RSS ≤ {limit:g} MiB after W1–W5",
            ROW_LABELS[f"{impl}-{transport}"],
            measured,
            hwm <= limit and "error" not in r,
        )


def add_targets(
    lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]
) -> list[Verdict]:
    """The socket transport's targets: ratios over TCP against daffi 3.0.1 in the same run."""
    add = lines.append
    add("## Targets of the socket transport")
    add("")
    add(
        "Ratios are daffi socket ÷ daffi 3.0.1 of this run, over TCP (UNIX where said); the gap says how"
        " much better the number has to get."
    )
    add("")
    add("| target | daffi row | measured | met? |")
    add("|---|---|---|---|")
    t = Targets(lines, cells)
    sock = "daffi-socket"
    t.ratio("socket-w1", "W1 p50 ≤ 0.6× daffi 3.0.1", "w1", "p50_us", sock, "tcp", "daffi3-tcp", 0.6)
    if stat(cells.get("w1", {}).get("daffi3-unix", []), "p50_us") is not None:
        t.ratio("socket-w1", "W1 p50 ≤ 0.5× daffi 3.0.1 on UNIX", "w1", "p50_us", sock, "unix", "daffi3-unix", 0.5)
    else:
        target = "W1 p50 ≤ 0.5× daffi 3.0.1 (its UNIX run has no number: vs its TCP)"
        t.ratio("socket-w1", target, "w1", "p50_us", sock, "unix", "daffi3-tcp", 0.5)
    t.ratio("socket-w1", "W1 p99 ≤ daffi 3.0.1 p99", "w1", "p99_us", sock, "tcp", "daffi3-tcp", 1.0)
    t.ratio("socket-w2", "W2 ≥ 1.5× daffi 3.0.1", "w2", "calls_per_s", sock, "tcp", "daffi3-tcp", 1.5)
    t.ratio("socket-w3", "W3 1 MiB ≥ 1.5× daffi 3.0.1", "w3", "1MiB_MBps", sock, "tcp", "daffi3-tcp", 1.5)
    t.works("socket-w3-64", sock, "tcp")
    t.works("socket-w3-64", sock, "unix")
    t.ratio("socket-w4", "W4 ≥ 2× daffi 3.0.1", "w4", "items_per_s", sock, "tcp", "daffi3-tcp", 2.0)
    t.ratio("socket-w5", "W5 ≥ 1× daffi 3.0.1", "w5", "broadcasts_per_s", sock, "tcp", "daffi3-tcp", 1.0)
    t.ratio("socket-w6", "W6 ≥ 1× daffi 3.0.1", "w6", "calls_per_s", sock, "tcp", "daffi3-tcp", 1.0)
    if not t.verdicts:
        add("| (no daffi socket rows in this run) | | | |")
    for transport, _ in TRANSPORTS:
        compared = grpc_comparison(cells, data.get("previous"), transport)
        if not compared:
            continue
        worse = [(m, r) for m, r, ok in compared if not ok]
        text = (
            f"{len(compared) - len(worse)} of {len(compared)} metrics within {GRPC_TOLERANCE:.0%} of the previous run"
        )
        if worse:
            text += "; slower (this ÷ previous): " + ", ".join(
                f"{short_label(m)} {r:.2f}× {'↑' if m.higher_better else '↓'}" for m, r in worse
            )
        t.row(
            "grpc-previous",
            "gRPC transport no slower than before",
            ROW_LABELS[f"daffi-grpc-{transport}"],
            text,
            not worse,
        )
    soak = data.get("soak", {})
    for transport, _ in TRANSPORTS:
        t.rss("socket-rss", soak, sock, transport, 80)
    for transport, _ in TRANSPORTS:
        t.ready("socket-ready", sock, transport, 0.2)
    add("")
    return t.verdicts


def add_issue4_targets(
    lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]
) -> list[Verdict]:
    """The targets of issue 4 (before the socket transport), kept for the gRPC transport."""
    if not any(daffi_runs(rows, "daffi-grpc", t) for rows in cells.values() for t, _ in TRANSPORTS):
        return []
    add = lines.append
    add("## Targets of issue 4, gRPC transport")
    add("")
    add("| target | daffi row | measured | met? |")
    add("|---|---|---|---|")
    t = Targets(lines, cells)
    grpc = "daffi-grpc"
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-latency", "W1 p50 ≤ grpc relay p50", "w1", "p50_us", grpc, transport, "relay-tcp", 1.0)
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-latency", "W1 p50 ≤ 0.4× daffi 2.2.1", "w1", "p50_us", grpc, transport, "daffi2-tcp", 0.4)
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-throughput", "W2 ≥ 2× daffi 3.0.1", "w2", "calls_per_s", grpc, transport, "daffi3-tcp", 2.0)
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-w3", "W3 1 MiB ≥ 1.5× daffi 3.0.1", "w3", "1MiB_MBps", grpc, transport, "daffi3-tcp", 1.5)
    for transport, _ in TRANSPORTS:
        t.works("grpc-w3", grpc, transport)
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-w4", "W4 ≥ 1.5× daffi 3.0.1", "w4", "items_per_s", grpc, transport, "daffi3-tcp", 1.5)
    for transport, _ in TRANSPORTS:
        t.ratio("grpc-latency", "W5 ≥ 2× daffi 3.0.1", "w5", "broadcasts_per_s", grpc, transport, "daffi3-tcp", 2.0)
    for transport, _ in TRANSPORTS:
        t.ready("grpc-ready", grpc, transport, 0.3)
    for transport, _ in TRANSPORTS:
        t.rss("grpc-rss", data.get("soak", {}), grpc, transport, 100)
    add("")
    return t.verdicts


#: what "the gRPC transport no slower than before" compares (p99 and W6 fairness swing too much
#: between runs, W7's RSS is memory, not speed)
GRPC_COMPARED = tuple(m for m in METRICS if m.key not in ("p99_us", "fairness_min_max", "controller_rss_mib"))


def grpc_comparison(
    cells: dict[str, dict[str, list[dict[str, Any]]]], previous: dict[str, Any] | None, transport: str
) -> list[tuple[Metric, float, bool]]:
    """(metric, this run ÷ previous run, within tolerance) of the gRPC transport's metrics."""
    if not previous:
        return []
    out: list[tuple[Metric, float, bool]] = []
    for m in GRPC_COMPARED:
        now_rows = cells.get(m.workload, {})
        before_rows = previous.get("cells", {}).get(m.workload, {})
        _, now = best_daffi(now_rows, "daffi-grpc", transport, m)
        _, before = best_daffi(before_rows, "daffi-grpc", transport, m)
        r = ratio(now, before)
        if r is None:
            continue
        ok = r >= 1 - GRPC_TOLERANCE if m.higher_better else r <= 1 + GRPC_TOLERANCE
        out.append((m, r, ok))
    return out


def add_grpc_previous(
    lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]
) -> None:
    """The gRPC transport's medians next to the previous run's."""
    previous = data.get("previous")
    add = lines.append
    add("## The gRPC transport against the previous run")
    add("")
    if not previous:
        add(
            "No previous run in the results (a run keeps the gRPC rows of the latest.json it replaces, or of"
            " `--previous FILE`); this run's gRPC rows are in the tables above."
        )
        add("")
        return
    started = previous.get("started", {})
    sources = sorted(set(started.values()))
    add(
        f"Previous numbers: the gRPC transport's rows of the run(s) of {', '.join(sources) or '?'} (UTC)"
        " (results from before the socket transport existed name them `daffi-tcp`, `daffi-unix`: daffi"
        f" then always ran gRPC). Met (✓) when this run's median is at most {GRPC_TOLERANCE:.0%} worse;"
        " p99 and W6 fairness are listed but not judged (they swing by far more between runs)."
    )
    if data.get("quick"):
        add("")
        add("> This is a quick run: its sizes differ from the previous run's, so the ratios mean nothing.")
    add("")
    add("| metric | daffi row | this run | previous run | this ÷ previous | within? |")
    add("|---|---|---|---|---|---|")
    for m in METRICS:
        if m.key in ("controller_rss_mib",):
            continue
        for transport, _ in TRANSPORTS:
            _, now = best_daffi(cells.get(m.workload, {}), "daffi-grpc", transport, m)
            _, before = best_daffi(previous.get("cells", {}).get(m.workload, {}), "daffi-grpc", transport, m)
            if now is None:  # not in this run (e.g. gRPC over UNIX beyond W1)
                continue
            r = ratio(now, before)
            judged = m in GRPC_COMPARED
            if r is None:
                verdict = "—"
            elif not judged:
                verdict = "(not judged)"
            else:
                ok = r >= 1 - GRPC_TOLERANCE if m.higher_better else r <= 1 + GRPC_TOLERANCE
                verdict = "✓" if ok else "✗"
            add(
                f"| {metric_label(m)} | {ROW_LABELS[f'daffi-grpc-{transport}']}"
                f" | {fmt(now.median, m.digits) if now else '—'} | {fmt(before.median, m.digits) if before else '—'}"
                f" | {f'{r:.2f}×' if r is not None else '—'} | {verdict} |"
            )
    soak_now = data.get("soak", {})
    soak_before = previous.get("soak", {})
    for transport, _ in TRANSPORTS:
        key = f"daffi-grpc-{transport}"
        now_hwm = soak_now.get(key, {}).get("controller_mem", {}).get("VmHWM")
        before_hwm = soak_before.get(key, {}).get("controller_mem", {}).get("VmHWM")
        if now_hwm:
            r = now_hwm / before_hwm if now_hwm and before_hwm else None
            add(
                f"| controller peak RSS after W1–W5 (MiB, ↓) | {ROW_LABELS[key]}"
                f" | {f'{now_hwm:.0f}' if now_hwm else '—'} | {f'{before_hwm:.0f}' if before_hwm else '—'}"
                f" | {f'{r:.2f}×' if r is not None else '—'} | (not judged) |"
            )
    add("")


def add_workload(lines: list[str], workload: str, rows: dict[str, list[dict[str, Any]]], data: dict[str, Any]) -> None:
    add = lines.append
    metrics = [m for m in METRICS if m.workload == workload]
    add(f"### {TITLES[workload]}")
    add("")
    header = ["implementation"] + [metric_label(m).split(" ", 1)[1] for m in metrics]
    add("| " + " | ".join(header) + " |")
    add("|" + "---|" * len(header))
    for key, runs in rows.items():
        add("| " + " | ".join([ROW_LABELS.get(key, key)] + [cell_text(runs, m) for m in metrics]) + " |")
    add("")
    ratio_rows: list[str] = []
    for m in metrics:
        for impl, transport in DAFFI_ROWS:
            if daffi_runs(rows, impl, transport) is None:
                continue
            dkey, d = best_daffi(rows, impl, transport, m)
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
    profiles = {k: v for k, v in data.get("profiles", {}).items() if "profile" in v}
    if not profiles:
        add("(no py-spy profile in this run)")
        add("")
    for key, prof in profiles.items():
        add_pyspy(lines, key, prof)
    add_reading(lines, cells, data)


def add_pyspy(lines: list[str], key: str, prof: dict[str, Any]) -> None:
    add = lines.append
    duration = prof.get("duration_s", 0)
    add(f"### py-spy: {ROW_LABELS.get(key, key)}")
    add("")
    add(
        f"py-spy (`record --rate 200 --nonblocking --threads`, {duration:.0f} s) on the caller, controller and callee"
        f" of a {ROW_LABELS.get(key, key)} W1 run ({prof.get('calls', '?')} calls, p50 {prof.get('p50_us', 0):.0f} µs"
        ' with py-spy attached, which also takes CPU on this 2-core machine). "busy" is py-spy\'s share of'
        " samples in which a Python thread was running, in cores; the CPU column is /proc's figure for the"
        " whole process (all threads, native ones included) over the same calls."
    )
    add("")
    for role in ("caller", "controller", "callee"):
        p = prof["profile"].get(role, {})
        if "error" in p:
            add(f"- **{role}**: py-spy failed: {p['error']}")
            add("")
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


CPU_KEYS = ("caller_cpu_us_per_call", "controller_cpu_us_per_call", "callee_cpu_us_per_call")


def add_reading(lines: list[str], cells: dict[str, dict[str, list[dict[str, Any]]]], data: dict[str, Any]) -> None:
    """The breakdown in words, computed from this run's numbers."""
    add = lines.append
    w1 = cells.get("w1", {})
    variants = data.get("variants", {})

    def med(runs: list[dict[str, Any]] | None, key: str) -> float | None:
        s = stat(runs or [], key)
        return s.median if s else None

    relay = med(w1.get("relay-tcp"), "p50_us")
    d3 = med(w1.get("daffi3-tcp"), "p50_us")
    cpu3 = [med(w1.get("daffi3-tcp"), k) for k in CPU_KEYS]
    total3 = sum(c for c in cpu3 if c is not None) if all(c is not None for c in cpu3) else None
    said = False
    for impl, name in DAFFI:
        key = f"{impl}-tcp"
        d = med(w1.get(key), "p50_us")
        cpu = [med(w1.get(key), k) for k in CPU_KEYS]
        if d is None or any(c is None for c in cpu):
            continue
        if not said:
            add("Reading (computed from the numbers above):")
            add("")
            said = True
        total = sum(c for c in cpu if c is not None)
        add(
            f"- {name} TCP p50 is {d:.0f} µs; the three processes burn {total:.0f} µs of CPU per call"
            f" (caller {cpu[0]:.0f}, controller {cpu[1]:.0f}, callee {cpu[2]:.0f})"
            f"{': more than the latency itself, so W1 is CPU-bound' if total >= d else ''}"
            f" — {total / d:.2f} core-µs per µs of p50."
        )
        if relay and impl == "daffi-grpc":
            add(
                f"  The grpc.aio relay does the same four hops with no framework on top: p50 {relay:.0f} µs,"
                f" so daffi gRPC is at {d / relay:.2f}× the same-stack floor."
            )
        pinned = med(variants.get(f"{key}-pinned"), "p50_us")
        if pinned:
            add(
                f"  Pinning every process to one CPU (taskset) moves its p50 to {pinned:.0f} µs"
                f" ({pinned / d:.2f}×): cross-CPU wake-ups"
                f" {'cost' if pinned < d else 'are not what costs; pinning adds'} {abs(d - pinned):.0f} µs per call."
            )
        poll = med(variants.get(f"{key}-poll"), "p50_us")
        if poll:
            add(f"  `GRPC_POLL_STRATEGY=poll` instead of the default epoll1: p50 {poll:.0f} µs ({poll / d:.2f}×).")
        if d3 and total3 is not None:
            if d > d3:
                add(
                    f"  daffi 3.0.1's p50 is {d3:.0f} µs: reaching it needs {d - d3:.0f} µs less per call;"
                    f" 3.0.1 spends {total3:.0f} µs of CPU per call against {total:.0f}."
                )
            else:
                add(
                    f"  daffi 3.0.1's p50 is {d3:.0f} µs ({d / d3:.2f}× of it), its CPU per call {total3:.0f} µs"
                    f" against {total:.0f}."
                )
    if said:
        add("")


#: What bounds a missed target, and the next step: one entry per group of targets (the first
#: argument of each target row in add_targets / add_issue4_targets). Written after a full run;
#: a miss whose group has no text here is listed with its gap and "not analysed yet".
BOUNDS: dict[str, str] = {
    # the socket transport (its targets are written after its first full run)
    "socket-w1": (
        "mostly the controller. In the W1 CPU table the caller and the callee spend about what daffi 3.0.1's do"
        " (its nodes run Python too; pinned to one CPU ours cost 1.4-1.7x theirs), the controller four to seven"
        " times more (its controller is compiled); a call"
        " crosses it twice, and every crossing is Python: the batch parsed (protobuf, in C), the call routed"
        " (dicts), the frame re-encoded, buffered and written, about 20 µs of interpreter per message (perf:"
        " 56% of its CPU in libpython) besides uvloop and the syscalls. A uvloop relay that forwards the same"
        " frames without parsing them (measured while building this, all processes on one CPU) costs 11 µs per"
        " call against the controller's 70-90. Without pinning every hop also wakes a process on the other"
        " vCPU, which on this VM costs daffi 60-100 µs per call more than pinned (daffi 3.0.1 about 100, its"
        " p99 suffers the same way). Next step: a controller fast path that routes on the header bytes without"
        " building protobuf objects (or a compiled one), then fewer Python layers per message in the nodes."
    ),
    "socket-w2": "",
    "socket-w3": (
        "copies into fresh memory, as for gRPC: a large frame is received into a buffer of its own, protobuf"
        " copies the payload out of it, pickle builds the bytes object, and each process does that once per"
        " direction; on this VM faulting in fresh pages costs more than the copy. The controller forwards"
        " large batches as views (no copy), so the socket transport is ahead of gRPC here, not yet 1.5x"
        " daffi 3.0.1. Next step: receive into reused buffers and hand payload views to pickle."
    ),
    "socket-w3-64": "",
    "socket-w4": "",
    "socket-w5": (
        "the controller again (see W1): a broadcast is one CALL fanned out to four connections and four"
        " replies relayed back, each message about 20 µs of Python in the single controller thread, and the"
        " caller decodes and gathers four replies. Next step: the controller fast path of W1."
    ),
    "socket-w6": (
        "CPU: 32 caller processes, 4 callees and the controller share two cores, and the controller is the one"
        " serial stage (one thread, 70-115 µs of CPU per call against daffi 3.0.1's 10-30, see W1), so it caps"
        " the total. Fairness is better than 3.0.1's (0.9 against 0.6). Next step: the controller fast path."
    ),
    "grpc-previous": (
        "not the code: the previous run is from another day. Same-run A/B on W1 (gRPC, TCP; the commit before"
        " the transport seam against this one, run alternately in the same minutes, 4,000 calls each, this"
        " harness's processes): p50 1,329 / 1,333 / 1,338 / 1,313 / 1,360 µs before, 1,313 / 1,338 / 1,332 /"
        " 1,306 / 1,363 µs after, and the same CPU per call in every process (caller ~500 µs, controller"
        " ~550, callee ~440). The machine's W1 figures move by 20-30% between days (daffi 3.0.1 too)."
    ),
    "socket-rss": "",
    "socket-ready": "",
    # the gRPC transport (issue 4; measured before the socket transport, see performance.md)
    "grpc-latency": (
        "a routed call is two gRPC stream round trips (caller-controller, controller-callee), and on"
        " this machine one such round trip costs 250-330 µs in plain grpcio (aio or sync) before daffi"
        " does anything, so a call cannot go below about 0.5-0.66 ms; daffi 3.0.1 installs without gRPC"
        " (its compiled core carries its own transport). What daffi adds over the grpc.aio relay are"
        " thread hand-offs (the caller's thread to the node's event loop and back, the callee's loop to a"
        " worker thread and back), each a syscall that wakes another thread. W5 (sequential broadcasts)"
        " is bound the same way."
    ),
    "grpc-throughput": (
        "CPU-bound across three processes on two cores; hand-offs are shared under load (one wake-up per"
        " burst) and batches carry many calls, so the remaining cost is per-call Python work in the node"
        " (futures, pickling, protobuf headers). Next step: decode replies and encode calls in bulk per batch."
    ),
    "grpc-w3": (
        "page faults on fresh buffers dominate: each hop copies a payload into new memory (the gRPC"
        " receive buffer, protobuf's parse, the joined batch), and on this VM faulting in fresh pages costs"
        " more than the copy itself. Next step: reuse buffers across calls."
    ),
    "grpc-rss": (
        "the queue per receiver is capped (4 MiB, then the sender is held back), so what remains is gRPC's"
        " own buffers for the messages in flight and the allocator keeping freed chunks."
    ),
    "grpc-w4": "",
    "grpc-ready": "",
}


def add_bounds(lines: list[str], verdicts: list[Verdict]) -> None:
    """Every missed target with its gap, grouped, and what bounds it (BOUNDS)."""
    add = lines.append
    add("## What bounds the misses, and the next step")
    add("")
    misses: dict[str, list[Verdict]] = {}
    for v in verdicts:
        if not v.ok:
            misses.setdefault(v.group, []).append(v)
    if not misses:
        add("Every target above is met in this run." if verdicts else "No target could be checked in this run.")
        add("")
        return
    add(
        "Each missed target of the tables above, with its gap in this run; the measurements behind the"
        " explanations (taken while building daffi, outside this run) are in [performance.md](performance.md)."
    )
    add("")
    for group, missed in misses.items():
        text = BOUNDS.get(group) or "_not analysed yet._"
        targets = list(dict.fromkeys(v.target for v in missed))
        add(f"- **{'; '.join(targets)}**: {text}")
        for v in missed:
            add(f"  - {v.target + ', ' if len(targets) > 1 else ''}{v.where}: {v.measured}")
    add("")


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
    add("hatch run bench:all --impls daffi-socket,daffi3   # some implementations only (daffi = both transports)")
    add("hatch run bench:all --previous OLD.json   # compare the gRPC rows with that run instead of the replaced one")
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
        "- daffi (this repo): `python -m daffi_controller --transport socket|grpc`, nodes with"
        " `Global(transport=...)` (bench/node_daffi.py `--transport`; `$DAFFI_TRANSPORT` is removed from the"
        " processes' environment); the socket transport runs on uvloop. `g.call.add(a, b) & FG`;"
        " W2 runs both 64 `BG` futures from one thread and 64 threads making `FG` calls, and the ratios use the"
        " faster; W4 is `g.call.sink(range(100000)) & STREAM` then `g.call.count() & FG`."
    )
    add(
        f"- daffi gRPC over UNIX runs {', '.join(w.upper() for w in grpc_unix_workloads(data))} only: on a UNIX"
        " socket daffi's default is the socket transport, and a full gRPC-UNIX column (about 3 min) would"
        " push the run past its 28-minute budget on 2 cores. The one-controller memory run covers daffi socket"
        " on TCP and UNIX and daffi gRPC on TCP."
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
    # every daffi row against daffi 3.0.1 (the targets' anchor), the socket transport also against the others
    names = [(impl, t, "daffi3-tcp", f"{ROW_LABELS[f'{impl}-{t}']} vs daffi 3.0.1") for impl, t in DAFFI_ROWS]
    names += [("daffi-socket", "tcp", a, f"daffi socket, TCP vs {label}") for a, label in ANCHORS if a != "daffi3-tcp"]
    for m in METRICS:
        if m.workload not in cells or m.key == "fairness_min_max":
            continue
        labels.append(short_label(m))
        for impl, transport, akey, name in names:
            _, d = best_daffi(cells[m.workload], impl, transport, m)
            a = stat(cells[m.workload].get(akey, []), m.key)
            r = ratio(d, a)
            value = float("nan") if r is None else (r if m.higher_better else 1 / r)
            series.setdefault(name, []).append(value)
    series = {k: v for k, v in series.items() if any(x == x for x in v)}  # drop rows with no number at all
    if not labels or not series:
        return False
    fig, ax = plt.subplots(figsize=(13, 5.5))
    width = 0.8 / len(series)
    colors = {
        "daffi socket, TCP vs daffi 3.0.1": "#1f77b4",
        "daffi socket, UNIX vs daffi 3.0.1": "#aec7e8",
        "daffi gRPC, TCP vs daffi 3.0.1": "#ff7f0e",
        "daffi gRPC, UNIX vs daffi 3.0.1": "#ffbb78",
        "daffi socket, TCP vs daffi 2.2.1": "#2ca02c",
        "daffi socket, TCP vs grpc relay": "#98df8a",
    }
    for i, (name, vals) in enumerate(series.items()):
        xs = [x + (i - len(series) / 2 + 0.5) * width for x in range(len(labels))]
        ax.bar(xs, vals, width, label=name, color=colors.get(name))
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
