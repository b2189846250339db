"""Renders docs/reliability-load.md from the saved results of each scenario (chaos/results/*.json)."""

from __future__ import annotations

import itertools
from typing import Any

Entry = dict[str, Any]


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _status(entry: Entry) -> str:
    return f"**{entry['status']}**: {entry.get('error', '')}"


def _machine(saved: dict[str, Entry]) -> list[str]:
    machines = {e["machine"]["summary"] for e in saved.values() if "machine" in e}
    return [f"- {m}" for m in sorted(machines)]


# --- one section per scenario -----------------------------------------------------------------


def _nodes(e: Entry) -> tuple[list[list[str]], list[str]]:
    if e["status"] != "finished":
        return [["100 nodes on one controller", "all connect, broadcast answered by all", _status(e), "✗"]], []
    f = e["figures"]
    c = f["caller"]
    n = f["nodes"]
    rss = f["controller_rss_mib"]
    rows = [
        [
            f"{n} nodes on one controller ({f['transport'].upper()})",
            f"all {n} connect; a broadcast gets {n} results",
            f"{n}/{n} connected {_f(f['connect_seconds'])} s after the processes were started; "
            f"{c['broadcasts']} broadcasts, each with {c['answers_per_broadcast']} right answers",
            "✓",
        ]
    ]
    lines = [
        f"### 1. {n} nodes on one controller",
        "",
        f"One controller (`python -m daffi_controller`, {f['transport'].upper()} on 127.0.0.1), one caller, then {n} "
        f"separate node processes (`python -m chaos.nodes.leaf`, each offering `bump`), all started at once.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| controller start → ready | {_f(f['controller_ready_seconds'], 2)} s |",
        f"| starting the {n} processes (Popen) | {_f(f['spawn_seconds'], 2)} s |",
        f"| start → the caller sees all {n} offering `bump` | **{_f(f['connect_seconds'], 2)} s** |",
        f"| joins / leaves the controller logged ({n} nodes + the caller) | "
        f"{f['controller_joins_logged']} / {f['controller_leaves_logged']} |",
        f"| broadcast `bump(i) & BROADCAST` to {n} nodes, {c['broadcasts']} measured after 2 warm-up, "
        f"p50 (min to max) | **{_f(c['latency_ms_p50'])} ms** "
        f"({_f(c['latency_ms_min'])} to {_f(c['latency_ms_max'])}) |",
        f"| all {n} SIGKILLed → the caller sees none left | {_f(f['kill_to_departed_seconds'], 2)} s |",
        f"| RSS of one node process, mean (all {n}) | {_f(f['leaf_rss_mib_mean'])} MiB "
        f"({_n(f['leaf_rss_mib_total'])} MiB in all) |",
        "",
        "Controller RSS (VmRSS):",
        "",
        "| moment | MiB |",
        "|---|---|",
        *[f"| {k} | {_f(v)} |" for k, v in rss.items()],
        "",
    ]
    return rows, lines


def _calls(e: Entry) -> tuple[list[list[str]], list[str]]:
    if e["status"] != "finished":
        return [["1M calls", "every call returned or raised; RSS growth < 10%", _status(e), "✗"]], []
    f = e["figures"]
    r = f["result"]
    plan = f["plan"]
    raised = sum(r["raised"].values())
    unaccounted = r["issued"] - r["ok"] - r["wrong"] - raised
    growth = f["growth_pct_10_to_100"]
    all_done = r["total"] >= r["requested"]
    rows = [
        [
            f"{_n(r['requested'])} calls, one caller → one callee ({f['transport'].upper()})",
            "all issued",
            f"{_n(r['issued'])} issued" + ("" if all_done else f" (the rate allowed {_n(r['total'])} in the budget)"),
            _mark(all_done),
        ],
        [
            "… nothing lost",
            "returned + raised = issued, no wrong result",
            f"{_n(r['ok'])} right, {_n(r['wrong'])} wrong, {_n(raised)} raised, {_n(unaccounted)} unaccounted",
            _mark(unaccounted == 0 and r["wrong"] == 0 and raised == 0),
        ],
        [
            "… memory",
            "RSS growth from 10% to the end < 10%",
            ", ".join(f"{k} {v:+.1f}%" for k, v in growth.items()),
            _mark(all(v < 10 for v in growth.values())),
        ],
    ]
    notes = []
    samples = f["samples"]
    for proc in growth:
        values = [row[proc] for row in samples]
        if all(b > a for a, b in itertools.pairwise(values)):
            per_100k = (values[-1] - values[0]) * 1024 / ((samples[-1]["done"] - samples[0]["done"]) / 100_000)
            notes.append(
                f"- The {proc}'s RSS rose at every sample from 10% to the end ({_f(values[0])} → {_f(values[-1])} MiB, "
                f"≈ {_n(per_100k)} KiB per 100,000 calls): under the target, but a steady climb rather than a plateau."
            )
    lines = [
        f"### 2. {_n(r['total'])} calls",
        "",
        f"One caller makes `g.call.add(i, 7) & BG(timeout=60)` calls from one thread, keeping {r['window']} futures "
        f"in flight, and checks every result (`== i + 7`); one callee; one controller, "
        f"{f['transport'].upper()} on 127.0.0.1. The first {_n(plan['probe'])} "
        f"calls measure the rate ({_n(plan['probe_rate'])} calls/s); the run is cut to what fits in "
        f"{_n(plan['budget_seconds'])} s. At each 10% the caller settles its window and waits while the harness reads "
        f"VmRSS of the three processes.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| calls requested / made | {_n(r['requested'])} / **{_n(r['issued'])}** |",
        f"| returned right / wrong / raised | {_n(r['ok'])} / {_n(r['wrong'])} / {_n(raised)} {r['raised'] or ''} |",
        f"| time, rate | {_f(r['seconds'])} s, **{_n(r['rate'])} calls/s** |",
        "| RSS growth 10% → end | " + ", ".join(f"{k} **{v:+.1f}%**" for k, v in growth.items()) + " |",
        "",
        "| done | calls | s | controller MiB | caller MiB | callee MiB |",
        "|---|---|---|---|---|---|",
        *[
            f"| {s['pct']}% | {_n(s['done'])} | {_f(s['seconds'])} | {_f(s['controller'])} | {_f(s['caller'])} | "
            f"{_f(s['callee'])} |"
            for s in f["samples"]
        ],
        "",
        *notes,
        *([""] if notes else []),
    ]
    return rows, lines


def _stream(e: Entry) -> tuple[list[list[str]], list[str]]:
    if e["status"] != "finished":
        return [["1M-item stream into a slow consumer", "nothing lost, sender memory bounded", _status(e), "✗"]], []
    f = e["figures"]
    r = f["result"]
    rc = r["receiver"]
    intact = (
        not r["error"]
        and rc["received"] == f["items"]
        and rc["out_of_order"] == 0
        and rc["missing"] == 0
        and rc["duplicates"] == 0
        and rc["corrupt"] == 0
    )
    start = f["rss_at_start"]["caller"]
    peak = f["caller_rss_peak_during"]
    # What the items would cost if the sender had them all at once: tuple, int and bytes objects.
    materialized = f["items"] * (56 + 28 + 33 + f["blob"] + 8) / 2**20
    bounded = f["caller_growth_pct"] < 10
    rows = [
        [
            f"{_n(f['items'])}-item stream into a slow consumer ({f['transport'].upper()})",
            "every item arrives once, in order, intact",
            f"{_n(rc['received'])} received, {rc['out_of_order']} out of order, {rc['missing']} missing, "
            f"{rc['duplicates']} duplicated, {rc['corrupt']} corrupt" + (f"; error {r['error']}" if r["error"] else ""),
            _mark(intact),
        ],
        [
            "… sender memory",
            "bounded (the generator is never materialized)",
            f"sender RSS {_f(start)} MiB at the start, peak {_f(peak)} MiB ({f['caller_growth_pct']:+.1f}%); "
            f"the items held at once would be ≈ {_n(materialized)} MiB",
            _mark(bounded),
        ],
    ]
    ticks = f["ticks"]
    shown = ticks if len(ticks) <= 12 else [ticks[round(i * (len(ticks) - 1) / 11)] for i in range(12)]
    lines = [
        f"### 3. A {_n(f['items'])}-item stream into a slow consumer",
        "",
        f"The caller runs `g.call.sink(items()) & STREAM` where `items()` is a generator of `(seq, blob)` with a "
        f"{f['blob']}-byte blob derived from `seq`; the callee's `sink` checks each `seq` is the next one and the blob "
        f"is right, and sleeps {f['pause']} (the slow consumer). Once a second a second thread of the caller asks "
        f"the callee how many it processed (`stream_report() & FG`) and the harness reads VmRSS of the three "
        f"processes. {f['transport'].upper()} socket.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| items sent / processed by the receiver | {_n(r['produced'])} / **{_n(rc['received'])}** |",
        f"| out of order / missing / duplicated / corrupt | {rc['out_of_order']} / {rc['missing']} / "
        f"{rc['duplicates']} / {rc['corrupt']} |",
        f"| time, rate | {_f(r['seconds'])} s, {_n(r['rate'])} items/s |",
        f"| the generator's lead over the receiver, max of {r['lead_samples']} samples | {_n(r['max_lead'])} items "
        "(the credit is 512 items beyond the last acknowledgement; the receiver acknowledges every 64 items and "
        "the two counts are read a round trip apart) |",
        f"| sender (caller) RSS at the start / peak during / end | {_f(start)} / **{_f(peak)}** / "
        f"{_f(f['rss_at_end']['caller'])} MiB |",
        f"| receiver RSS at the start / end | {_f(f['rss_at_start']['callee'])} / "
        f"{_f(f['rss_at_end']['callee'])} MiB |",
        f"| controller RSS at the start / end | {_f(f['rss_at_start']['controller'])} / "
        f"{_f(f['rss_at_end']['controller'])} MiB |",
        "",
        "| produced | processed | sender MiB | receiver MiB | controller MiB |",
        "|---|---|---|---|---|",
        *[
            f"| {_n(t.get('produced', 0))} | {_n(t.get('received', 0))} | {_f(t['caller'] or 0)} | "
            f"{_f(t['callee'] or 0)} | {_f(t['controller'] or 0)} |"
            for t in shown
            if "produced" in t
        ],
        "",
    ]
    return rows, lines


SECTIONS = {"nodes": _nodes, "calls": _calls, "stream": _stream}


def render(saved: dict[str, Entry]) -> str:
    summary: list[list[str]] = []
    details: list[str] = []
    runs: list[str] = []
    for name, section in SECTIONS.items():
        entry = saved.get(name)
        if entry is None:
            summary.append([name, "", "not run yet", "✗"])
            continue
        rows, lines = section(entry)
        summary += rows
        details += lines
        runs.append(
            f"| {name} | {entry['date']} | `{entry.get('command', '')}` | {entry['status']} | "
            f"{_f(entry['wall_seconds'])} s (hard timeout {_n(entry['timeout_seconds'])} s) | "
            f"{entry['processes_started']} started, {len(entry['processes_not_reaped'])} left running |"
        )
    out = [
        "# Reliability under load",
        "",
        "Written by `hatch run chaos:all` (the harness in `chaos/`) from its last run of each scenario; do not edit",
        "by hand. Every figure comes from real processes (a controller, node processes) on loopback TCP or a UNIX",
        "socket. The fault and bad-input figures are in [reliability.md](reliability.md).",
        "",
        "Machine:",
        "",
        *_machine(saved),
        "",
        "## What held",
        "",
        "| scenario | target | measured | held |",
        "|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in summary],
        "",
        "## Runs",
        "",
        "| scenario | date (UTC) | command | status | wall time | processes |",
        "|---|---|---|---|---|---|",
        *runs,
        "",
        "## Figures",
        "",
        *details,
        "## How to run",
        "",
        "```bash",
        "hatch run chaos:all            # the three scenarios, rewrites this page (≈ 5 min on 2 cores)",
        "hatch run chaos:nodes          # one scenario (also chaos:calls, chaos:stream); rewrites its part",
        "hatch run chaos:all --quick    # smoke run with small counts; prints JSON, writes nothing",
        "hatch run chaos:all --report-only   # rewrite this page from chaos/results/*.json",
        "hatch run chaos:calls --calls 200000 --transport unix   # other counts or transport",
        "```",
        "",
        "- Transports: `nodes` and `calls` on TCP 127.0.0.1, `stream` on a UNIX socket in a fresh 0700 directory",
        "  (`--transport tcp|unix` runs all on one). Hard timeouts: nodes 180 s, calls 480 s, stream 240 s.",
        "- Each scenario runs in fresh processes under a hard timeout; when it ends, for any reason, the harness",
        "  SIGKILLs the process group of every process it started and reaps it (the table above counts them).",
        "- Memory is VmRSS from `/proc/<pid>/status`. Raw results: `chaos/results/<scenario>.json`.",
        "- The `calls` scenario measures its rate on the first 2% of the calls and runs only as many as fit in",
        "  its time budget; the table says so when that is fewer than requested.",
        "",
    ]
    return "\n".join(out)
