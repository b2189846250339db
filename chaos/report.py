"""Fills the tables of docs/reliability-load.md (its ``<!-- chaos:table NAME -->`` markers) from the saved results
of each scenario (chaos/results/*.json; the runs on NATS, chaos/results/nats/*.json, fill the ``nats-NAME`` tables);
the page's prose is edited by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tools import pages

Entry = dict[str, Any]


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _status(entry: Entry) -> str:
    return f"**{entry['status']}**: {entry.get('error', '')}"


def _server(f: Entry) -> str:
    """What the nodes met on: the controller, or a nats-server (results of before the NATS runs have no ``server``)."""
    return str(f.get("server", "controller"))


# --- one section per scenario -----------------------------------------------------------------


def _nodes(e: Entry) -> tuple[list[list[str]], dict[str, str]]:
    if e["status"] != "finished":
        return [["100 nodes on one controller", "all connect, broadcast answered by all", _status(e), "✗"]], {}
    f = e["figures"]
    c = f["caller"]
    n = f["nodes"]
    rss = f["controller_rss_mib"]
    server = _server(f)
    logged = f["controller_joins_logged"], f["controller_leaves_logged"]
    rows = [
        [
            f"{n} nodes on one {server} ({f['transport'].upper()})",
            f"all {n} connect; a broadcast gets {n} results",
            f"{n}/{n} connected {_f(f['connect_seconds'])} s after the processes were started; "
            f"{c['broadcasts']} broadcasts, each with {c['answers_per_broadcast']} right answers",
            "✓",
        ]
    ]
    figures = [
        [f"{server} start → ready", f"{_f(f['controller_ready_seconds'], 2)} s"],
        [f"starting the {n} processes (Popen)", f"{_f(f['spawn_seconds'], 2)} s"],
        [f"start → the caller sees all {n} offering `bump`", f"**{_f(f['connect_seconds'], 2)} s**"],
        [
            f"joins / leaves the {server} logged ({n} nodes + the caller)",
            "n/a (no controller: each node keeps its own view)" if None in logged else f"{logged[0]} / {logged[1]}",
        ],
        [
            f"broadcast `bump(i) & BROADCAST` to {n} nodes, {c['broadcasts']} measured after 2 warm-up, p50 (min-max)",
            f"**{_f(c['latency_ms_p50'])} ms** ({_f(c['latency_ms_min'])} to {_f(c['latency_ms_max'])})",
        ],
        [f"all {n} SIGKILLed → the caller sees none left", f"{_f(f['kill_to_departed_seconds'], 2)} s"],
        [
            f"RSS of one node process, mean (all {n})",
            f"{_f(f['leaf_rss_mib_mean'])} MiB ({_n(f['leaf_rss_mib_total'])} MiB in all)",
        ],
    ]
    tables = {
        "nodes": pages.table(["figure", "value"], figures),
        "nodes-rss": pages.table(["moment", f"{server} MiB"], [[k, _f(v)] for k, v in rss.items()]),
    }
    return rows, tables


def _calls(e: Entry) -> tuple[list[list[str]], dict[str, str]]:
    if e["status"] != "finished":
        return [["1M calls", "every call returned or raised; RSS growth < 10%", _status(e), "✗"]], {}
    f = e["figures"]
    r = f["result"]
    plan = f["plan"]
    raised = sum(r["raised"].values())
    unaccounted = r["issued"] - r["ok"] - r["wrong"] - raised
    growth = {_server(f) if k == "controller" else k: v for k, v in f["growth_pct_10_to_100"].items()}
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
    figures = [
        ["calls requested / made", f"{_n(r['requested'])} / **{_n(r['issued'])}**"],
        ["returned right / wrong / raised", f"{_n(r['ok'])} / {_n(r['wrong'])} / {_n(raised)} {r['raised'] or ''}"],
        ["time, rate", f"{_f(r['seconds'])} s, **{_n(r['rate'])} calls/s**"],
        [
            "rate probe (first calls), time budget",
            f"{_n(plan['probe_rate'])} calls/s over {_n(plan['probe'])} calls, {_n(plan['budget_seconds'])} s",
        ],
        ["RSS growth 10% → end", ", ".join(f"{k} **{v:+.1f}%**" for k, v in growth.items())],
    ]
    samples = [
        [f"{s['pct']}%", _n(s["done"]), _f(s["seconds"]), _f(s["controller"]), _f(s["caller"]), _f(s["callee"])]
        for s in f["samples"]
    ]
    header = ["done", "calls", "s", f"{_server(f)} MiB", "caller MiB", "callee MiB"]
    tables = {"calls": pages.table(["figure", "value"], figures), "calls-samples": pages.table(header, samples)}
    return rows, tables


def _stream(e: Entry) -> tuple[list[list[str]], dict[str, str]]:
    if e["status"] != "finished":
        return [["1M-item stream into a slow consumer", "nothing lost, sender memory bounded", _status(e), "✗"]], {}
    f = e["figures"]
    r = f["result"]
    rc = r["receiver"]
    damage = ("out_of_order", "missing", "duplicates", "corrupt")
    intact = not r["error"] and rc["received"] == f["items"] and not any(rc[k] for k in damage)
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
    ticks = [t for t in f["ticks"] if "produced" in t]
    shown = ticks if len(ticks) <= 12 else [ticks[round(i * (len(ticks) - 1) / 11)] for i in range(12)]
    figures = [
        ["items sent / processed by the receiver", f"{_n(r['produced'])} / **{_n(rc['received'])}**"],
        [
            "out of order / missing / duplicated / corrupt",
            f"{rc['out_of_order']} / {rc['missing']} / {rc['duplicates']} / {rc['corrupt']}",
        ],
        ["time, rate", f"{_f(r['seconds'])} s, {_n(r['rate'])} items/s"],
        [f"the generator's lead over the receiver, max of {r['lead_samples']} samples", f"{_n(r['max_lead'])} items"],
        [
            "sender (caller) RSS at the start / peak during / end",
            f"{_f(start)} / **{_f(peak)}** / {_f(f['rss_at_end']['caller'])} MiB",
        ],
        ["receiver RSS at the start / end", f"{_f(f['rss_at_start']['callee'])} / {_f(f['rss_at_end']['callee'])} MiB"],
        [
            f"{_server(f)} RSS at the start / end",
            f"{_f(f['rss_at_start']['controller'])} / {_f(f['rss_at_end']['controller'])} MiB",
        ],
    ]
    rows_ticks = [
        [_n(t["produced"]), _n(t.get("received", 0)), *(_f(t[k] or 0) for k in ("caller", "callee", "controller"))]
        for t in shown
    ]
    header = ["produced", "processed", "sender MiB", "receiver MiB", f"{_server(f)} MiB"]
    tables = {"stream": pages.table(["figure", "value"], figures), "stream-ticks": pages.table(header, rows_ticks)}
    return rows, tables


SECTIONS = {"nodes": _nodes, "calls": _calls, "stream": _stream}


def _tables(saved: dict[str, Entry]) -> dict[str, str]:
    """The tables of the last saved run of each scenario (``held``, ``runs`` and each scenario's)."""
    summary: list[list[str]] = []
    runs: list[list[str]] = []
    tables: dict[str, str] = {}
    for name, section in SECTIONS.items():
        entry = saved.get(name)
        if entry is None:
            summary.append([name, "", "not run yet", "✗"])
            continue
        rows, more = section(entry)
        summary += rows
        tables.update(more)
        runs.append(
            [
                name,
                entry["date"],
                f"`{entry.get('command', '')}`",
                entry["status"],
                f"{_f(entry['wall_seconds'])} s (hard timeout {_n(entry['timeout_seconds'])} s)",
                f"{entry['processes_started']} started, {len(entry['processes_not_reaped'])} left running",
            ]
        )
    tables["held"] = pages.table(["scenario", "target", "measured", "held"], summary)
    header = ["scenario", "date (UTC)", "command", "status", "wall time", "processes"]
    tables["runs"] = pages.table(header, runs)
    return tables


def fill(saved: dict[str, Entry], page: Path, nats: dict[str, Entry] | None = None) -> None:
    """Fill the page's tables from the last saved run of each scenario, and its ``nats-`` tables from those of
    ``nats`` (the runs with ``--transport nats``)."""
    nats = nats or {}
    tables = _tables(saved) | {f"nats-{name}": table for name, table in _tables(nats).items()}
    machines = sorted({e["machine"]["summary"] for e in [*saved.values(), *nats.values()] if "machine" in e})
    tables["machine"] = "\n".join(f"- {m}" for m in machines)
    pages.fill(page, "chaos", tables)
