"""``python -m chaos`` (``hatch run chaos:all``): run the load scenarios, write docs/reliability-load.md.

hatch run chaos:all                 # nodes, calls, stream; ≈ 5 min on 2 cores, 15 at most
hatch run chaos:nodes               # one scenario (also chaos:calls, chaos:stream)
hatch run chaos:all --quick         # a smoke run with small counts (report not written)
hatch run chaos:nodes --transport nats   # on one nats-server, no controller (chaos/results/nats/)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from chaos import report
from chaos.scenarios import ROOT, SCENARIOS, STARTED, Settings, not_reaped
from tools import pages
from tools.procs import ProcTimeout

RESULTS = ROOT / "chaos" / "results"
#: the runs with ``--transport nats``: their own results, and their own tables of the page (``nats-NAME``)
NATS_RESULTS = RESULTS / "nats"

QUICK = Settings(nodes=10, calls=20_000, calls_budget=60, items=20_000)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # unwinds through every Fleet, which kills its children


def machine() -> dict[str, Any]:
    """What this ran on (tools/pages.py), and the daffi version."""
    try:
        from daffi import __version__ as version
    except ImportError:
        version = "?"
    info = pages.machine()
    return {"summary": f"{info['summary']}; daffi {version}", "cpus": info["cores"], "mem_gib": info["memory_gib"]}


def run_one(name: str, settings: Settings) -> dict[str, Any]:
    func, timeout = SCENARIOS[name]
    if name == "calls":  # room for a longer --calls-budget
        timeout = max(timeout, settings.calls_budget + 120)
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    before = len(STARTED)
    print(f"[chaos] {name}: start (hard timeout {timeout:.0f} s)", flush=True)
    entry: dict[str, Any] = {
        "scenario": name,
        "date": started.isoformat(timespec="seconds"),
        "timeout_seconds": timeout,
        "settings": dataclasses.asdict(settings),
        "machine": machine(),
    }
    try:
        entry["figures"] = func(settings, timeout)
        entry["status"] = "finished"
    except ProcTimeout as exc:
        entry["status"] = "timeout"
        entry["error"] = str(exc)
    except Exception as exc:
        entry["status"] = "failed"
        entry["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    entry["wall_seconds"] = round(time.monotonic() - t0, 1)
    entry["processes_started"] = len(STARTED) - before
    entry["processes_not_reaped"] = not_reaped()
    print(f"[chaos] {name}: {entry['status']} in {entry['wall_seconds']} s", flush=True)
    return entry


def saved(folder: Path) -> dict[str, Any]:
    """The last saved run of each scenario in ``folder``."""
    paths = {name: folder / f"{name}.json" for name in SCENARIOS}
    return {name: json.loads(path.read_text()) for name, path in paths.items() if path.exists()}


def write_report() -> None:
    out = ROOT / "docs" / "reliability-load.md"
    report.fill(saved(RESULTS), out, nats=saved(NATS_RESULTS))
    print(f"[chaos] filled the tables of {out.relative_to(ROOT)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small counts, no report (a smoke run)")
    parser.add_argument(
        "--transport",
        choices=["tcp", "unix", "nats"],
        help="override every scenario's transport (nats: one nats-server, no controller; results of their own)",
    )
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--calls", type=int)
    parser.add_argument("--items", type=int)
    parser.add_argument("--no-report", action="store_true", help="do not rewrite docs/reliability-load.md")
    parser.add_argument("--report-only", action="store_true", help="rewrite the page from chaos/results, run nothing")
    parser.add_argument("--calls-budget", type=float, help="seconds the calls scenario may take (default 360)")
    args = parser.parse_args(argv)
    if args.report_only:
        write_report()
        return 0
    signal.signal(signal.SIGTERM, _terminate)

    settings = QUICK if args.quick else Settings()
    names = {f.name for f in dataclasses.fields(Settings)}  # the options named as a setting
    settings = dataclasses.replace(settings, **{k: v for k, v in vars(args).items() if k in names and v is not None})

    given = sys.argv[1:] if argv is None else argv
    everything = set(args.scenarios) == set(SCENARIOS)
    command = " ".join(["hatch run chaos:all" if everything else "python -m chaos", *given])
    entries = [run_one(name, settings) for name in args.scenarios]
    failed = [e["scenario"] for e in entries if e["status"] != "finished"]
    leftovers = not_reaped()
    print(f"[chaos] processes started: {len(STARTED)}, not reaped: {leftovers}", flush=True)

    if not (args.quick or args.no_report):
        folder = NATS_RESULTS if settings.transport == "nats" else RESULTS
        folder.mkdir(parents=True, exist_ok=True)
        for entry in entries:
            entry["command"] = command
            (folder / f"{entry['scenario']}.json").write_text(json.dumps(entry, indent=1) + "\n")
        write_report()
    else:
        for entry in entries:
            print(json.dumps(entry, indent=1))
    return 1 if failed or leftovers else 0


if __name__ == "__main__":
    sys.exit(main())
