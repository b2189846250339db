"""``python -m chaos.fuzz`` (``hatch run chaos:fuzz``): coverage-guided fuzzing of the controller's frame handling,
on both transports (gRPC streams and the socket transport's framing).

hatch run chaos:fuzz                    # 5 minutes of atheris, then fills the tables of docs/reliability-fuzz.md
hatch run chaos:fuzz --seconds 60       # another time budget
hatch run chaos:fuzz --runs 3000        # a fixed number of inputs, writes nothing
hatch run chaos:fuzz --canary leak      # plant a known bug (leak, raise, token): the run must end in a crash
hatch run chaos:fuzz --report-only      # fill the page's tables from the last run (chaos/results/fuzz.json)
python -m chaos.fuzz_target FILE_OR_DIR # replay inputs (a crash libFuzzer saved, the seed corpus), no atheris

The target (chaos/fuzz_target.py) runs in a child process under libFuzzer; this module starts it on the
seed corpus (chaos/fuzz_corpus/, read only) and a fresh working corpus, relays its progress, then replays
the final corpus without instrumentation under coverage.py to tell which lines of the controller it
reached. Exit status: 0 when the run ended without a crash, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tools import pages
from tools.procs import Proc

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "chaos" / "fuzz_corpus"
REPORT = ROOT / "docs" / "reliability-fuzz.md"
SAVED = ROOT / "chaos" / "results" / "fuzz.json"  # the last full run, what the page's tables are filled from
#: Files whose lines the coverage replay counts: the controller's fronts and routing, and what they use of core.
COVERED = {
    "daffi_controller": ("switchboard.py", "grpc_service.py", "socket_service.py", "router.py", "registry.py"),
    "daffi_core": (
        "framing.py",
        "outbox.py",
        "protocol.py",
        "transport/socket/wire.py",
        "transport/socket/server.py",
    ),
}

_STATS = re.compile(
    r"^#(?P<runs>\d+)\s+(?P<event>\w+)\s+cov: (?P<cov>\d+) ft: (?P<ft>\d+) corp: (?P<corpus>\d+)/\S+.*?"
    r"exec/s: (?P<exec_per_s>\d+) rss: (?P<rss_mb>\d+)Mb"
)


@dataclass
class Result:
    """What one libFuzzer run printed."""

    command: str
    started: str
    seconds_budget: float | None
    runs_budget: int | None
    seed: int | None = None
    seed_files: int = 0
    inited: dict[str, int] = field(default_factory=dict)
    final: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    run_seconds: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    crash: list[str] = field(default_factory=list)
    artifact: str | None = None
    artifact_base64: str | None = None
    exit_code: int = 0
    wall_seconds: float = 0.0
    corpus_files: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and at the end
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def crashed(self) -> bool:
        return self.exit_code != 0 or bool(self.crash) or self.artifact is not None


def _parse_line(result: Result, line: str, in_crash: list[bool]) -> None:
    if m := _STATS.match(line):
        figures = {k: int(v) for k, v in m.groupdict().items() if k != "event"}
        if m["event"] == "INITED":
            result.inited = figures
        result.final = figures
    elif m := re.match(r"INFO: Seed: (\d+)", line):
        result.seed = int(m.group(1))
    elif m := re.match(r"INFO:\s+(\d+) files found in (.*)", line):
        if Path(m.group(2).strip()) == SEEDS:
            result.seed_files = int(m.group(1))
    elif m := re.match(r"Done (\d+) runs in (\d+) second", line):
        result.runs, result.run_seconds = int(m.group(1)), int(m.group(2))
    elif m := re.match(r"stat::(\w+):\s+(\d+)", line):
        result.stats[m.group(1)] = int(m.group(2))
    elif "=== Uncaught Python exception: ===" in line or re.search(r"ERROR: libFuzzer: (?!fuzz target exited)", line):
        in_crash[0] = True
        result.crash.append(line.strip())
    elif m := re.search(r"Test unit written to (\S+)", line):
        result.artifact = m.group(1)
        in_crash[0] = False
    elif m := re.match(r"Base64: (\S+)", line):
        result.artifact_base64 = m.group(1)
    elif in_crash[0] and len(result.crash) < 60:
        result.crash.append(line.rstrip())


def fuzz(args: argparse.Namespace, work: Path) -> Result:
    """Run the target under libFuzzer in a child process; relay and parse what it prints."""
    corpus, artifacts = work / "corpus", work / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(exist_ok=True)
    flags = [
        f"-max_total_time={args.seconds:.0f}" if args.runs is None else f"-runs={args.runs}",
        f"-seed={args.seed}",
        f"-max_len={args.max_len}",
        "-timeout=25",  # one input: a hang
        "-rss_limit_mb=2048",  # memory that grows across inputs
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/",
    ]
    argv = [sys.executable, "-m", "chaos.fuzz_target", *flags, str(corpus), str(SEEDS)]
    env = {**os.environ, **({"DAFFI_FUZZ_CANARY": args.canary} if args.canary else {})}
    result = Result(
        command="hatch run chaos:fuzz " + " ".join(args.argv),
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds_budget=None if args.runs is not None else args.seconds,
        runs_budget=args.runs,
    )
    print(f"[fuzz] {' '.join(argv)}", flush=True)
    hard_limit = (args.seconds if args.runs is None else 600) + 120
    t0, load_start, in_crash = time.monotonic(), os.getloadavg()[0], [False]
    with (work / "libfuzzer.log").open("w") as log:

        def relay(line: str) -> None:  # in the reader thread, line by line
            log.write(line + "\n")
            if not line.startswith("INFO: Instrumenting"):
                print(line, flush=True)
            _parse_line(result, line, in_crash)

        child = Proc(argv, env=env, cwd=ROOT, name="libFuzzer", echo=relay)
        try:
            child.popen.wait(hard_limit)
        except subprocess.TimeoutExpired:
            result.crash.append(f"the fuzzer did not stop by itself within {hard_limit:.0f} s: killed")
        finally:
            child.kill()
    result.exit_code = child.popen.returncode
    result.wall_seconds = round(time.monotonic() - t0, 1)
    result.load = (load_start, os.getloadavg()[0])
    if not result.run_seconds:  # no "Done" line: it stopped on a crash
        result.run_seconds = round(result.wall_seconds)
    result.corpus_files = sum(1 for _ in corpus.iterdir())
    return result


# ------------------------------------------------------------------------------ line coverage of the corpus


def _covered_files() -> dict[str, Path]:
    files = {}
    for package, names in COVERED.items():
        spec = importlib.util.find_spec(package)  # a top-level package: found, not imported
        assert spec is not None and spec.submodule_search_locations
        directory = Path(next(iter(spec.submodule_search_locations)))
        files.update({f"{package}/{name}": directory / name for name in names if (directory / name).exists()})
    return files


def replay(paths: list[Path]) -> dict[str, Any]:
    """Play every input of the corpus, uninstrumented, under coverage.py: the statements of COVERED run."""
    import coverage

    files = _covered_files()
    cov = coverage.Coverage(data_file=None, include=[str(p) for p in files.values()])
    inputs = sorted(p for directory in paths for p in directory.iterdir() if p.is_file())
    failed, seeds = 0, {}
    cov.start()  # before the controller is imported: its module-level lines count too
    try:
        import chaos.fuzz_target as target

        for path in inputs:
            try:
                run = target.play(path.read_bytes())
                if path.parent == SEEDS:
                    seeds[path.name] = run.log
            except target.InvariantViolation:
                failed += 1
    finally:
        cov.stop()
    report: dict[str, Any] = {"inputs": len(inputs), "failed": failed, "files": {}, "seeds": seeds}
    for label, path in files.items():
        _, statements, _, missing, _ = cov.analysis2(str(path))
        report["files"][label] = {
            "lines": len(statements),
            "executed": len(statements) - len(missing),
            "missed": missing,
        }
    return report


def _coverage(corpus_dirs: list[Path]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "chaos.fuzz", "--replay", *map(str, corpus_dirs)]
    env = {**os.environ, "DAFFI_FUZZ_PLAIN": "1"}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stdout + done.stderr)[-2000:]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------ the page


def _ranges(lines: list[int]) -> str:
    spans: list[list[int]] = []
    for n in lines:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "none"


def _n(value: int) -> str:
    return f"{value:,}"


def tables(result: Result, machine: str) -> dict[str, str]:
    """The page's tables: the last run, the lines its corpus reached, its crashes, the seed corpus."""
    final, inited, stats = result.final, result.inited, result.stats
    budget: list[object] = (
        ["time budget", f"{result.seconds_budget:.0f} s (`-max_total_time`), wall time {result.wall_seconds:.0f} s"]
        if result.seconds_budget is not None
        else ["run budget", f"{result.runs_budget} inputs, wall time {result.wall_seconds:.0f} s"]
    )
    rate = _n(stats.get("average_exec_per_sec", final.get("exec_per_s", 0)))
    rows: list[list[object]] = [
        ["date (UTC)", result.started],
        ["machine", f"{machine}; load average {result.load[0]:.1f} at the start, {result.load[1]:.1f} at the end"],
        ["command", f"`{result.command.strip()}`"],
        budget,
        ["libFuzzer seed", result.seed],
        [
            "inputs executed",
            f"**{_n(stats.get('number_of_executed_units', result.runs))}** in {result.run_seconds} s ({rate}/s)",
        ],
        [f"coverage at start (the {result.seed_files} seeds)", f"cov {inited.get('cov', 0)}, ft {inited.get('ft', 0)}"],
        ["coverage at the end", f"**cov {final.get('cov', 0)}, ft {final.get('ft', 0)}**"],
        ["corpus", f"{final.get('corpus', 0)} inputs kept, {stats.get('new_units_added', 0)} added by mutation"],
        ["peak RSS", f"{stats.get('peak_rss_mb', final.get('rss_mb', 0))} MiB"],
        ["result", f"{'**crash**' if result.crashed else 'no crash'} (exit code {result.exit_code})"],
    ]
    out = {"last-run": pages.table(["figure", "value"], rows)}
    cov = result.coverage
    if "files" in cov:
        lines = []
        for label, f in cov["files"].items():
            pct = 100 * f["executed"] / f["lines"] if f["lines"] else 100
            lines.append([f"`{label}`", f"{f['executed']}/{f['lines']} ({pct:.0f}%)", _ranges(f["missed"])])
        intro = f"The {cov['inputs']} inputs of the final corpus (seeds included), replayed without instrumentation."
        out["coverage"] = intro + "\n\n" + pages.table(["file", "lines executed", "not reached"], lines)
    elif cov:
        out["coverage"] = f"The coverage replay failed: `{cov.get('error', '')[-300:]}`"
    crash = ["```", *result.crash[:40], "```"] if result.crashed else ["None."]
    if result.artifact:
        crash += ["", f"Input: `{result.artifact}` (base64 `{result.artifact_base64}`); replay it with"]
        crash += [f"`python -m chaos.fuzz_target {result.artifact}`."]
    out["crashes"] = "\n".join(crash)
    if cov.get("seeds"):  # each step cut short: raw bytes in hex would fill the table
        steps = {
            name: "; ".join(step if len(step) < 50 else step[:47] + "..." for step in log)
            for name, log in cov["seeds"].items()
        }
        seeds = [[f"`{name}`", len(cov["seeds"][name]), text.replace("|", "/")] for name, text in steps.items()]
        out["seeds"] = pages.table(
            ["seed", "steps", "script (`python -m chaos.fuzz_target FILE` prints it whole)"], seeds
        )
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m chaos.fuzz", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget of the fuzzing (default 300)")
    parser.add_argument("--runs", type=int, help="run this many inputs instead of a time budget; writes no report")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's -seed (default 0: a random one)")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input in bytes (default 4096)")
    parser.add_argument("--work", type=Path, help="directory for the working corpus, crash inputs and the log")
    parser.add_argument("--no-report", action="store_true", help=f"do not fill {REPORT.relative_to(ROOT)}")
    parser.add_argument("--no-coverage", action="store_true", help="skip the line-coverage replay")
    parser.add_argument(
        "--canary",
        choices=["leak", "raise", "token"],
        help="plant a bug in the router (leak, raise) or the socket transport (token): the run must crash; no report",
    )
    parser.add_argument("--report-only", action="store_true", help=f"fill the page from {SAVED.relative_to(ROOT)}")
    parser.add_argument("--replay", nargs="+", type=Path, help=argparse.SUPPRESS)  # the coverage child
    args = parser.parse_args(argv)
    args.argv = argv
    if args.replay:
        print(json.dumps(replay(args.replay)))
        return 0
    if args.report_only:
        saved = json.loads(SAVED.read_text())
        result = Result(**saved["result"])
        if "seeds" not in result.coverage:  # the scripts of the seed corpus as it is now
            result.coverage["seeds"] = _coverage([SEEDS]).get("seeds", {})
        pages.fill(REPORT, "fuzz", tables(result, saved["machine"]))
        print(f"[fuzz] filled {REPORT.relative_to(ROOT)} from {SAVED.relative_to(ROOT)}", flush=True)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="daffi-fuzz-"))
    result = fuzz(args, work)
    if not args.no_coverage and args.runs is None:
        result.coverage = _coverage([work / "corpus", SEEDS])
    summary = (
        f"{_n(result.stats.get('number_of_executed_units', result.runs))} inputs, "
        f"cov {result.final.get('cov', 0)} ft {result.final.get('ft', 0)}, "
        f"{'CRASH' if result.crashed else 'no crash'} (exit {result.exit_code}); work directory {work}"
    )
    print(f"[fuzz] {summary}", flush=True)
    for label, f in result.coverage.get("files", {}).items():
        print(f"[fuzz] {label}: {f['executed']}/{f['lines']} lines; not reached: {_ranges(f['missed'])}")
    if not (args.no_report or args.runs is not None or args.canary):
        from chaos.__main__ import machine

        summary = machine()["summary"]
        SAVED.write_text(json.dumps({"result": dataclasses.asdict(result), "machine": summary}, indent=1) + "\n")
        pages.fill(REPORT, "fuzz", tables(result, summary))
        print(f"[fuzz] filled {REPORT.relative_to(ROOT)} and wrote {SAVED.relative_to(ROOT)}", flush=True)
    return 1 if result.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
