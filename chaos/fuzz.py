"""``python -m chaos.fuzz`` (``hatch run chaos:fuzz``): coverage-guided fuzzing of the controller's frame handling,
on both transports (gRPC streams and the socket transport's framing).

hatch run chaos:fuzz                    # 5 minutes of atheris, then rewrites docs/reliability-fuzz.md
hatch run chaos:fuzz --seconds 60       # another time budget
hatch run chaos:fuzz --runs 3000        # a fixed number of inputs, writes nothing (the unit test's run)
hatch run chaos:fuzz --canary leak      # plant a known bug (leak, raise, token): the run must end in a crash
hatch run chaos:fuzz --report-only      # rewrite the page from the last run (chaos/results/fuzz.json)
python -m chaos.fuzz_target CRASH_FILE  # replay one input (a crash libFuzzer saved)

The target (chaos/fuzz_target.py) runs in a child process under libFuzzer; this module starts it on the
seed corpus (chaos/fuzz_corpus/, read only) and a fresh working corpus, relays its progress, then replays
the final corpus without instrumentation under a line tracer to tell which lines of the controller it
reached. Exit status: 0 when the run ended without a crash, 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import dis
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "chaos" / "fuzz_corpus"
REPORT = ROOT / "docs" / "reliability-fuzz.md"
SAVED = ROOT / "chaos" / "results" / "fuzz.json"  # the last full run, what the page is rendered from
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
#: Bugs this harness found, for the page: (input, what happened, now, how it was found, regression test).
FOUND = [
    (
        "A message that is not a `Batch`, after a valid Hello",
        "the `DecodeError` failed the stream's reader like an internal fault: logged at ERROR with a traceback, "
        "the other nodes told `internal error (DecodeError(...))`, the offending node's call ended with status OK",
        "`servicer.py` (now `switchboard.py` and `grpc_service.py`): the node leaves as usual (its calls fail, "
        "the calls it made are cancelled), a warning is "
        'logged, its call ends with `INVALID_ARGUMENT` "not a daffi Batch message: ..."',
        "the first crash of the first run: the 12th input, a mutation of a seed's raw batch",
        "`test_undecodable_batch_after_hello_ends_that_stream_only`",
    ),
    (
        "The same as the first message of a stream",
        "the `DecodeError` left the handler: gRPC logged an unexpected error and ended the call with `UNKNOWN`",
        '`servicer.py` (now `switchboard.py` and `grpc_service.py`): `Reject(BAD_HELLO)` "the first message is '
        'not a daffi Batch: ...", like any bad Hello',
        "same cause; confirmed against a real controller",
        "`test_undecodable_first_message_is_rejected`",
    ),
    (
        "300 calls to a callback nobody offers, in one 5 KB batch, while a node offers 2,000 callbacks",
        "each error lists every callback of the other nodes, and the outbox cut batches by payload bytes only: "
        "the 300 replies went out as one 12.9 MB batch, over the 8 MiB limit, and gRPC ended the caller's stream "
        "with `RESOURCE_EXHAUSTED`",
        "`daffi_core/outbox.py`: a batch is cut once its encoded bytes (not only its payload bytes) reach "
        "`BATCH_BYTES`; the 300 replies arrive in several batches, each under the limit",
        "in about a second once the batch property was checked at a scale fuzz inputs reach (below)",
        "`test_burst_of_error_replies_stays_under_the_message_limit`",
    ),
    (
        "A node that keeps sending while its handler drains a stuck writer (a slow node when the controller "
        "stops, or a handler gRPC cancelled)",
        "`_leave` ran while the node's reader still dispatched, for up to 2 s: callbacks it sent were offered "
        "again though it was gone (picking them then raised `KeyError` in another node's reader), its calls were "
        "routed and never cleaned up",
        "`servicer.py` (now `switchboard.py` and `grpc_service.py`): the reader is cancelled before the node leaves",
        "after 3,035 inputs of a 2-minute run",
        "`test_frames_of_a_node_that_has_left_are_not_dispatched`",
    ),
    (
        "A node's socket connection refused by the transport after its Hello: a second Open frame, an unknown "
        "frame kind, a length over the limit (seed `socket-refused-node-stays`; also `socket-hellos`, "
        "`socket-hostile-frames`)",
        "`ServerConnection._refuse` wrote the CLOSE and half-closed but did not end the session: the node stayed "
        "registered until the client hung up or the 2 s linger ended, even when its Welcome was never written. "
        'Calls routed to it meanwhile vanished and failed after 2 s ("stopped unexpectedly"), its name was taken '
        "(a node reconnecting under it got `DUPLICATE_NAME`); confirmed against a real socket controller",
        "`daffi_core/transport/socket/server.py`: `_refuse` ends the session before it closes: the node leaves at once",
        "by the first socket seeds, before any mutation",
        "`test_regression_seed_passes` (`socket-refused-node-stays`)",
    ),
    (
        "A socket connection paused for back-pressure (a node it calls is behind) when the controller stops "
        "(seed `socket-closed-while-paused`)",
        "`NodeSession.stop` closed the connection, and `ServerConnection.resume_reading` did nothing once "
        "closing: the connection was never read again, so the client's EOF went unnoticed, the linger ran its "
        "full 2 s and `transport.close()` found unread bytes, which reset the connection (confirmed over TCP)",
        "`daffi_core/transport/socket/server.py`: `close` resumes reading a paused connection (what still "
        "arrives is read and dropped)",
        "after 90 s of the first run with the socket transport, once the end of a script checked that every "
        "client's bytes are read",
        "`test_regression_seed_passes` (`socket-closed-while-paused`)",
    ),
]

_STATS = re.compile(r"^#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+).*?exec/s: (\d+) rss: (\d+)Mb")


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
        figures = dict(
            zip(
                ("runs", "cov", "ft", "corpus", "exec_per_s", "rss_mb"),
                map(int, m.group(1, 3, 4, 5, 7, 8)),
                strict=True,
            )
        )
        if m.group(2) == "INITED":
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
    env = dict(os.environ)
    if args.canary:
        env["DAFFI_FUZZ_CANARY"] = args.canary
    result = Result(
        command="hatch run chaos:fuzz " + " ".join(args.argv),
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seconds_budget=None if args.runs is not None else args.seconds,
        runs_budget=args.runs,
    )
    print(f"[fuzz] {' '.join(argv)}", flush=True)
    log_path = work / "libfuzzer.log"
    hard_limit = (args.seconds if args.runs is None else 600) + 120
    t0 = time.monotonic()
    load_start = os.getloadavg()[0]
    in_crash = [False]
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        ) as child,
    ):
        assert child.stdout is not None
        killer = _Deadline(child, hard_limit)
        try:
            for line in child.stdout:
                log.write(line)
                if not line.startswith("INFO: Instrumenting"):
                    print(line, end="", flush=True)
                _parse_line(result, line, in_crash)
        finally:
            killer.cancel()
        result.exit_code = child.wait()
    result.wall_seconds = round(time.monotonic() - t0, 1)
    result.load = (load_start, os.getloadavg()[0])
    if not result.run_seconds:  # no "Done" line: it stopped on a crash
        result.run_seconds = round(result.wall_seconds)
    result.corpus_files = sum(1 for _ in corpus.iterdir())
    if killer.fired:
        result.crash.append(f"the fuzzer did not stop by itself within {hard_limit:.0f} s: killed")
    return result


class _Deadline:
    """Kills the child's process group if it is still running after ``seconds``."""

    def __init__(self, child: subprocess.Popen[str], seconds: float) -> None:
        self.fired = False
        self._child = child
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)

    def _fire(self, signum: int, frame: types.FrameType | None) -> None:
        self.fired = True
        os.killpg(self._child.pid, signal.SIGKILL)

    def cancel(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


# ------------------------------------------------------------------------------ line coverage of the corpus


def _covered_files() -> dict[str, Path]:
    files = {}
    for package, names in COVERED.items():
        spec = importlib.util.find_spec(package)  # a top-level package: found, not imported
        assert spec is not None and spec.submodule_search_locations
        directory = Path(next(iter(spec.submodule_search_locations)))
        for name in names:
            if (directory / name).exists():
                files[f"{package}/{name}"] = directory / name
    return files


def _code_lines(code: types.CodeType) -> Iterator[int]:
    for _, line in dis.findlinestarts(code):
        if line is not None:
            yield line
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_lines(const)


def replay(paths: list[Path]) -> dict[str, Any]:
    """Play every input of the corpus, uninstrumented, and count the lines of COVERED it executes."""
    files = _covered_files()
    by_path = {str(path): label for label, path in files.items()}
    executed: dict[str, set[int]] = {label: set() for label in files}

    def local(frame: types.FrameType, event: str, arg: object) -> Any:
        if event == "line":
            executed[by_path[frame.f_code.co_filename]].add(frame.f_lineno)
        return local

    def tracer(frame: types.FrameType, event: str, arg: object) -> Any:
        label = by_path.get(frame.f_code.co_filename)
        if label is None:
            return None
        executed[label].add(frame.f_lineno)
        return local

    inputs = sorted(p for directory in paths for p in directory.iterdir() if p.is_file())
    failed = 0
    sys.settrace(tracer)  # before the controller is imported: its module-level lines count too
    try:
        import chaos.fuzz_target as target

        for path in inputs:
            try:
                target.play(path.read_bytes())
            except target.InvariantViolation:
                failed += 1
    finally:
        sys.settrace(None)
    report: dict[str, Any] = {"inputs": len(inputs), "failed": failed, "files": {}}
    for label, path in files.items():
        lines = set(_code_lines(compile(path.read_text(), str(path), "exec")))
        hit = executed[label] & lines
        report["files"][label] = {"lines": len(lines), "executed": len(hit), "missed": sorted(lines - hit)}
    return report


def _coverage(corpus_dirs: list[Path]) -> dict[str, Any]:
    argv = [sys.executable, "-m", "chaos.fuzz", "--replay", *map(str, corpus_dirs)]
    done = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, "DAFFI_FUZZ_PLAIN": "1"}, capture_output=True, text=True, timeout=900
    )
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


def render(result: Result, machine: str) -> str:
    from daffi_core.protocol import BATCH_BYTES, MAX_MESSAGE_BYTES, QUEUE_HIGH_BYTES, QUEUE_LOW_BYTES

    def mib(n: int) -> str:
        return f"{n / 2**20:g} MiB"

    final, inited, stats = result.final, result.inited, result.stats
    runs = stats.get("number_of_executed_units", result.runs)
    status = "**crash**" if result.crashed else "no crash"
    out = [
        "# Fuzzing the controller's frame handling (gRPC and socket transports)",
        "",
        "Written by `hatch run chaos:fuzz` (`chaos/fuzz.py`; the target is `chaos/fuzz_target.py` and "
        "`chaos/fuzz_socket.py`) from its last run; do not edit by hand. The unit suite runs the same target for "
        "a few thousand inputs (`tests/controller/test_fuzz_decoder.py`); hostile frames over real sockets are in "
        "[reliability.md](reliability.md) and `tests/controller/test_socket_wire.py`.",
        "",
        "## What is fuzzed",
        "",
        "[atheris](https://github.com/google/atheris) (libFuzzer for Python) mutates byte strings; each one is "
        "decoded (`atheris.FuzzedDataProvider`) into a script of up to 48 steps played in-process against a "
        "fresh controller that has both fronts on one `Switchboard`: the gRPC `ControllerServicer` and the "
        "socket transport's `SocketService`, so the gRPC and socket nodes of one script call each other.",
        "",
        "- gRPC nodes (up to 7) join (a valid Hello, a duplicate, empty or wrong-version one, a silent stream, a "
        "first message that is no Hello or no Batch at all), send batches built frame by frame from the input "
        "(calls, chunks, STREAM items, cancels, acks, replies, callback lists, frames only the controller may "
        "send, unknown kinds and enum values, repeated up to 50 times) or the input's raw bytes, end their "
        "stream, lose the connection, are cancelled the way gRPC cancels a handler, fail a write, stop reading "
        "(a slow node). Each message goes in as the bytes `context.read()` returns, so protobuf's parse and "
        "`daffi_core.framing.message_views` (the hand-written reader of forwarded bytes) both see every input; "
        "only the stream object (`read`/`write`/`abort`) is fake.",
        "- Socket-transport connections (up to 7): a real `ServerConnection` "
        "(`daffi_core.transport.socket.server`) of the real `SocketService` on a fake asyncio transport, which "
        "hands it bytes as asyncio hands them to a `BufferedProtocol` (`get_buffer`/`buffer_updated`, one piece "
        "per loop turn, held back while reading is paused; then `eof_received` or `connection_lost`) and "
        "captures what it writes. A connection sends the greeting or not (part of it, HTTP/2's, TLS's), an Open "
        "(Connect, GetCatalog, Health, an unknown or empty method; to a controller with a token the right one, "
        "a wrong one, a prefix of it or none) or DATA first, an Open that does not parse, two Opens, and a "
        "node's Hello; then frames of every kind (unknown ones too) with true, short, long or claimed length "
        "prefixes (64 KiB and 64 KiB + 1 around the reader's buffer, 8 MiB and 8 MiB + 1 around the frame limit, "
        "2³² - 1), DATA carrying batches, raw bytes or batches over 64 KiB, or the input's raw bytes, all cut "
        "into pieces at arbitrary boundaries (byte by byte too); it ends its stream, loses the connection, lets "
        "its writes back up (`pause_writing`, `resume_writing`).",
        "",
        "The controller may be stopped (both fronts). `daffi_controller` and `daffi_core` are instrumented "
        "(`atheris.instrument_imports`), so `cov` below counts edges of their Python bytecode. Seeds: "
        "`chaos/fuzz_corpus/` (rewritten by `python -m chaos.fuzz_target --write-seeds`; socket scripts are "
        "named `socket-*`).",
        "",
        "Checked after every step and at the end of each script (a violation is a crash):",
        "",
        "- no exception leaves a handler but `context.abort` (a status), gRPC's own cancellation, or a "
        "transport error that hit a stream still waiting for its Hello; no protocol callback of a socket "
        "connection raises; nothing is logged at ERROR;",
        "- the socket server's bytes are MAGIC, then whole, well-formed frames: DATA bodies parse as the "
        "method's message (a `Batch`, checked like the gRPC batches below; a `Catalog`; a `Health`), PING and "
        "PONG are empty and a PONG answers a PING, one CLOSE carries a `Status` and nothing follows it (nor "
        "`close()`, `write_eof()` or the loss of the connection); buffers handed to the transport do not change "
        "afterwards (uvloop sends them later without copying);",
        "- a plain, independent parse of what each socket client sent says how its connection must end: one "
        "refused before it had a session gets exactly one CLOSE with the expected non-OK code (another "
        "protocol's greeting, DATA before Open, a bad or second Open, an unknown frame kind: `INVALID_ARGUMENT`; "
        "a length over the limit: `RESOURCE_EXHAUSTED`; a wrong or missing token: `UNAUTHENTICATED`; an "
        "unknown method: `UNIMPLEMENTED`), GetCatalog and Health get one answer, then OK; a node's connection "
        "ends with a CLOSE that the client or its session explains; all a client sent is read by the end (a "
        "connection paused for back-pressure resumes). (Frames that complete in the same read as bytes that "
        "break the framing are not acted on: the reader raises before it returns them. The parse does the "
        "same.)",
        "- the token, and a wrong one a client sent, never appear in a log line (of any level) or in what the "
        "controller writes;",
        "- the registry holds exactly the welcomed gRPC streams still open and the socket nodes whose Welcome "
        "was written and whose connection is open; callback offers name only nodes that offer them; the routing "
        "tables agree with each other and name only connected nodes; open calls ≤ CALL frames received; frames "
        "written ≤ (nodes + 2) · (frames received + 2 · nodes + 1);",
        f"- what the controller writes parses as a `Batch` within the {mib(MAX_MESSAGE_BYTES)} limit, and each "
        "message in it is one "
        "a node sent, field for field but for `peer` (a connected node's name), or one the controller makes "
        "(error REPLY, CANCEL, ACCEPTED; no payload);",
        f"- batching at scale: the outbox's `BATCH_BYTES` ({mib(BATCH_BYTES)}) and back-pressure marks "
        f"({mib(QUEUE_HIGH_BYTES)}/{mib(QUEUE_LOW_BYTES)}) are lowered "
        "to 1 KiB and 2/1 KiB (the socket transport's DATA batches and marks alike), so inputs of a few KiB "
        "reach them, and a written batch may pass 1 KiB only by its "
        f"last frame (what keeps real batches under the {mib(MAX_MESSAGE_BYTES)} limit);",
        "- once every node has gone: registry, callback offers, round-robin turns, routing tables and socket "
        "sessions are empty, every connection was lost, every handler has returned and no task or timer is left "
        "on the loop; libFuzzer's `-rss_limit_mb=2048` bounds memory across inputs;",
        "- no payload is unpickled: `pickle`'s loaders are replaced by a tripwire before the controller is "
        "imported, importing `dill` fails, and payloads include a pickle that trips when loaded.",
        "",
        "## Last run",
        "",
        "| figure | value |",
        "|---|---|",
        f"| date (UTC) | {result.started} |",
        f"| machine | {machine}; load average {result.load[0]:.1f} at the start, {result.load[1]:.1f} at the end |",
        f"| command | `{result.command.strip()}` |",
        f"| time budget | {result.seconds_budget:.0f} s (`-max_total_time`), wall time {result.wall_seconds:.0f} s |"
        if result.seconds_budget is not None
        else f"| run budget | {result.runs_budget} inputs, wall time {result.wall_seconds:.0f} s |",
        f"| libFuzzer seed | {result.seed} |",
        f"| inputs executed | **{_n(runs)}** in {result.run_seconds} s "
        f"({_n(stats.get('average_exec_per_sec', final.get('exec_per_s', 0)))}/s) |",
        f"| coverage at start (the {result.seed_files} seeds) | cov {inited.get('cov', 0)}, ft {inited.get('ft', 0)} |",
        f"| coverage at the end | **cov {final.get('cov', 0)}, ft {final.get('ft', 0)}** "
        f"(cov: instrumented bytecode edges reached; ft: libFuzzer features, edges by hit-count bucket) |",
        f"| corpus | {final.get('corpus', 0)} inputs kept, {stats.get('new_units_added', 0)} added by mutation |",
        f"| peak RSS | {stats.get('peak_rss_mb', final.get('rss_mb', 0))} MiB |",
        f"| result | {status} (exit code {result.exit_code}) |",
        "",
    ]
    cov = result.coverage
    if "files" in cov:
        out += [
            "## Lines reached",
            "",
            f"The {cov['inputs']} inputs of the final corpus (seeds included) replayed without instrumentation "
            "under a line tracer (`python -m chaos.fuzz --replay`); lines as the compiler numbers them.",
            "",
            "| file | lines executed | not reached |",
            "|---|---|---|",
        ]
        for label, f in cov["files"].items():
            pct = 100 * f["executed"] / f["lines"] if f["lines"] else 100
            out.append(f"| `{label}` | {f['executed']}/{f['lines']} ({pct:.0f}%) | {_ranges(f['missed'])} |")
        out += [
            "",
            "Not reached, by design: serving and stopping (`GrpcFront`, `SocketFront`, `TokenCheck`, `register`, "
            "`bind`, `serve`) and gRPC's unary `GetCatalog`; timers, since scripts never wait on the clock (the "
            "Hello and Open timeouts, keepalive pings: `no_hello`, `_no_hello`, `_open_expired`, `_ping`, "
            "`_check_pong`; tests with real sockets cover them, e.g. `tests/controller/test_socket_wire.py`); "
            "what only a client meets (`FrameReader.feed_bytes`, `speaks_grpc`, `identify`'s gRPC server, "
            "`header`'s refusal of a frame too large to send) and `tls_peer`; the ERROR log of a gRPC reader that "
            "failed (no input makes one fail); `framing.message` and `varint`'s loop (the node's encoder); "
            "`_fields`' truncation and varint errors (bytes protobuf has already accepted cannot have them); "
            "`Router.open_calls` and `Outbox.closed` (not used on this path); defensive branches no input "
            "reaches (`leave` and `receive` of a node no longer registered, a sink or session used after it "
            "ended, a CLOSE handled after closing, the clean-up after a join that raised).",
            "",
        ]
    elif cov:
        out += ["## Lines reached", "", f"The coverage replay failed: `{cov.get('error', '')[-300:]}`", ""]
    out += ["## Crashes in this run", ""]
    if result.crashed:
        out += ["```", *result.crash[:40], "```", ""]
        if result.artifact:
            out += [
                f"Input: `{result.artifact}` (base64 `{result.artifact_base64}`); replay it with "
                f"`python -m chaos.fuzz_target {result.artifact}`.",
                "",
            ]
    else:
        out += ["None.", ""]
    out += [
        "## Bugs this harness found (fixed)",
        "",
        "| input | what happened | now | found | regression test (`tests/controller/`) |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in FOUND),
        "",
        "The seed corpus has a script for each, so the unit test replays them on every run."
        + ("" if result.crashed else " This run found no other crash, leak or unpickling."),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m chaos.fuzz", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget of the fuzzing (default 300)")
    parser.add_argument("--runs", type=int, help="run this many inputs instead of a time budget; writes no report")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's -seed (default 0: a random one)")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input in bytes (default 4096)")
    parser.add_argument("--work", type=Path, help="directory for the working corpus, crash inputs and the log")
    parser.add_argument("--no-report", action="store_true", help=f"do not rewrite {REPORT.relative_to(ROOT)}")
    parser.add_argument("--no-coverage", action="store_true", help="skip the line-coverage replay")
    parser.add_argument(
        "--canary",
        choices=["leak", "raise", "token"],
        help="plant a bug in the router (leak, raise) or the socket transport (token): the run must crash; no report",
    )
    parser.add_argument("--report-only", action="store_true", help=f"rewrite the page from {SAVED.relative_to(ROOT)}")
    parser.add_argument("--replay", nargs="+", type=Path, help=argparse.SUPPRESS)  # the coverage child
    args = parser.parse_args(argv)
    args.argv = argv
    if args.replay:
        print(json.dumps(replay(args.replay)))
        return 0
    if args.report_only:
        saved = json.loads(SAVED.read_text())
        REPORT.write_text(render(Result(**saved["result"]), saved["machine"]))
        print(f"[fuzz] wrote {REPORT.relative_to(ROOT)} from {SAVED.relative_to(ROOT)}", flush=True)
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
    if "files" in result.coverage:
        for label, f in result.coverage["files"].items():
            print(f"[fuzz] {label}: {f['executed']}/{f['lines']} lines; not reached: {_ranges(f['missed'])}")
    if not (args.no_report or args.runs is not None or args.canary):
        from chaos.__main__ import machine

        summary = machine()["summary"]
        SAVED.write_text(json.dumps({"result": dataclasses.asdict(result), "machine": summary}, indent=1) + "\n")
        REPORT.write_text(render(result, summary))
        print(f"[fuzz] wrote {REPORT.relative_to(ROOT)} and {SAVED.relative_to(ROOT)}", flush=True)
    return 1 if result.crashed else 0


if __name__ == "__main__":
    sys.exit(main())
