"""Operating a controller: ``$DAFFI_<FLAG>`` variables, ``--port 0``, ``inspect``, ``/metrics`` (real processes).

One controller per transport (gRPC on TCP, the socket transport on a UNIX socket) serves the
module, with two nodes: ``svc-a`` (tests/services/service.py) and ``gate``, whose one callback
blocks on a named pipe until the test writes to it, so a call is in flight exactly as long as the
test wants. Counters are shared by the tests of a controller: they compare before and after.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daffi import BG, BROADCAST, FG, Global, RemoteCallError
from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import ROOT, SERVICES, Proc, Procs, Where, free_port

GATE_NODE = f'''"""A node whose callback ``gate`` returns what the test writes into a named pipe."""
import sys

sys.path.insert(0, {str(SERVICES)!r})
from daffi import callback
from node_main import options, serve


@callback
def gate(fifo: str) -> str:
    print(f"BEGIN gate {{fifo}}", flush=True)
    with open(fifo) as pipe:  # blocks until the test opens the pipe to write
        return pipe.read()


serve(options().parse_args())
'''


@dataclass
class Live:
    where: Where
    controller: Proc
    gate: Proc
    metrics: str
    tmp: Path


@pytest.fixture(scope="module", params=["grpc-tcp", "socket-unix"])
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    """A controller with ``--metrics-port 0`` and the nodes ``svc-a`` and ``gate``, for the module."""
    with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:  # short: AF_UNIX paths are limited
        root = Path(tmp)
        if request.param == "grpc-tcp":
            where = Where(host="127.0.0.1", port=free_port(), transport="grpc")
        else:
            where = Where(unix_sock_path=str(root / "ctl.sock"), transport="socket")
        procs = Procs(root)
        try:
            controller = procs.controller(where, "--metrics-port", "0")
            found = re.search(r"metrics on (http://\S+/metrics)", controller.wait_line("ready on"))
            assert found, controller.output
            (root / "gate_node.py").write_text(GATE_NODE)
            procs.service(where, "svc-a")
            gate = procs.service(where, "gate", str(root / "gate_node.py"))
            yield Live(where, controller, gate, found[1], root)
        finally:
            procs.close()


def inspect(where: Where, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "daffi_controller", "inspect", *where.argv, *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def inspect_json(where: Where) -> Any:
    done = inspect(where, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def release(fifo: Path, text: str) -> None:
    """Write ``text`` into the pipe the gate callback waits on (bounded: the open blocks until it reads)."""

    def write() -> None:
        with open(fifo, "w") as pipe:
            pipe.write(text)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(15)
    assert not writer.is_alive(), "the gate callback never opened its pipe"


def calls(report: Any) -> dict[tuple[str, str, str], int]:
    return {(c["callback"], c["modifier"], c["outcome"]): c["count"] for c in report["calls"]}


# ---------------------------------------------------------------- inspect


def test_inspect_shows_nodes_signatures_calls_in_flight_and_counters(live: Live) -> None:
    fifo = live.tmp / f"gate-{os.urandom(4).hex()}"
    os.mkfifo(fifo)
    with Global(process_name="caller", **live.where.kwargs) as g:
        assert g.call.add(2, 3) & FG == 5
        pending = g.call.gate(str(fifo)) & BG
        live.gate.wait_line(f"BEGIN gate {fifo}")  # routed and running: in flight until released

        report = inspect_json(live.where)
        nodes = {n["name"]: n for n in report["nodes"]}
        assert {"svc-a", "gate", "caller"} <= set(nodes), nodes
        signatures = {c["name"]: c["signature"] for c in nodes["svc-a"]["callbacks"]}
        assert signatures["add"] == "add(a: int, b: int) -> int"
        assert signatures["async_add"] == "async async_add(a: int, b: int) -> int"
        assert [c["signature"] for c in nodes["gate"]["callbacks"]] == ["gate(fifo: str) -> str"]
        assert nodes["gate"]["in_flight"] == {"gate": 1}
        assert nodes["svc-a"]["in_flight"] == {}
        assert report["calls_in_flight"] == 1
        assert calls(report)[("add", "FG", "ok")] >= 1
        controller = report["controller"]
        assert controller["transport"] == live.where.transport
        assert report["bytes"]["in"] > 0 and report["bytes"]["out"] > 0
        assert report["flow_control_pauses"] == 0

        text = inspect(live.where)
        assert text.returncode == 0, text.stdout + text.stderr
        assert re.search(r"^  svc-a  from \S+, connected since \d{4}-\d\d-\d\d ", text.stdout, re.M), text.stdout
        assert re.search(r"^    gate\(fifo: str\) -> str  1 in flight$", text.stdout, re.M), text.stdout
        assert "    add(a: int, b: int) -> int\n" in text.stdout
        assert "calls in flight 1," in text.stdout

        release(fifo, "open")
        assert pending.get(timeout=15) == "open"
    after = inspect_json(live.where)
    gate = next(n for n in after["nodes"] if n["name"] == "gate")
    assert gate["in_flight"] == {}
    assert after["calls_in_flight"] == 0
    assert calls(after)[("gate", "BG", "ok")] == 1
    mean = next(c["mean_seconds"] for c in after["calls"] if c["callback"] == "gate")
    assert mean > 0


@pytest.mark.parametrize("carrier", ["grpc", "socket"])
def test_inspect_without_a_controller_is_one_clear_line(carrier: str, tmp_path: Path) -> None:
    where = (
        Where(host="127.0.0.1", port=free_port()) if carrier == "grpc" else Where(unix_sock_path=str(tmp_path / "x"))
    )
    done = inspect(where)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daffi-controller inspect: error: no controller answered at "), lines


# ---------------------------------------------------------------- metrics


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_calls_by_callback_modifier_and_outcome(live: Live) -> None:
    before = scrape(live.metrics)
    with Global(process_name="caller", **live.where.kwargs) as g:
        assert g.call.add(1, 1) & FG == 2
        assert g.call.add(2, 2) & FG == 4
        assert (g.call.add(3, 3) & BG).get(timeout=15) == 6
        assert g.call.whoami() & BROADCAST == {"svc-a": "svc-a"}  # one receiver: only svc-a has it
        with pytest.raises(RemoteCallError):
            g.call.boom("no") & FG
    after = scrape(live.metrics)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("daffi_calls_total", callback="add", modifier="FG", outcome="ok") == 2
    assert moved("daffi_calls_total", callback="add", modifier="BG", outcome="ok") == 1
    assert moved("daffi_calls_total", callback="whoami", modifier="BROADCAST", outcome="ok") == 1
    assert moved("daffi_calls_total", callback="boom", modifier="FG", outcome="error") == 1
    assert moved("daffi_call_duration_seconds_count", callback="add") == 3
    assert moved("daffi_call_duration_seconds_sum", callback="add") > 0
    assert value(after, "daffi_nodes") >= 2  # svc-a and gate (the caller has left)
    assert value(after, "daffi_callbacks") >= 19
    assert moved("daffi_bytes_total", direction="in") > 0 and moved("daffi_bytes_total", direction="out") > 0
    assert ("daffi_calls_in_flight", frozenset()) in after
    assert ("daffi_flow_control_pauses_total", frozenset()) in after
    # The shipped Grafana dashboard queries only what the controller serves.
    dashboard = json.loads((ROOT / "docs" / "grafana" / "daffi-dashboard.json").read_text())
    queried = {name for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"daffi_\w+", t["expr"])}
    assert queried <= {name for name, _ in after}, queried - {name for name, _ in after}
    assert len(dashboard["panels"]) == 6


# ---------------------------------------------------------------- environment variables, --port 0


def test_options_from_the_environment(procs: Procs) -> None:
    """No flag: host, port, transport and a lower-case log level come from ``$DAFFI_<FLAG>``."""
    port = free_port()
    env = {"DAFFI_HOST": "127.0.0.1", "DAFFI_PORT": str(port), "DAFFI_TRANSPORT": "socket"}
    proc = procs.python("-m", "daffi_controller", env={**env, "DAFFI_LOG_LEVEL": "debug", "DAFFI_HELLO_TIMEOUT": "3"})
    ready = proc.wait_line("ready on")
    assert f"ready on 127.0.0.1:{port} [transport=socket]" in ready, proc.output
    options = proc.wait_line("DEBUG daffi.controller: options:")
    for origin in ("host from $DAFFI_HOST", "port from $DAFFI_PORT", "log_level from $DAFFI_LOG_LEVEL"):
        assert origin in options, options
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_the_flag_wins_over_its_variable(procs: Procs, tmp_path: Path) -> None:
    """Flags beat variables; giving the address by flags ignores every address variable."""
    port = free_port()
    env = {
        "DAFFI_UNIX_SOCK_PATH": str(tmp_path / "unused.sock"),  # would conflict with --host/--port if read
        "DAFFI_PORT": "not a port",  # never read: the command line gives the address
        "DAFFI_TRANSPORT": "socket",
        "DAFFI_LOG_LEVEL": "ERROR",
    }
    argv = ["--host", "127.0.0.1", "--port", str(port), "--transport", "GRPC", "--log-level", "info"]
    proc = procs.python("-m", "daffi_controller", *argv, env=env)
    assert f"ready on 127.0.0.1:{port} [transport=grpc]" in proc.wait_line("ready on"), proc.output
    assert not (tmp_path / "unused.sock").exists()


@pytest.mark.parametrize(
    ("variable", "raw"),
    [("DAFFI_PORT", "abc"), ("DAFFI_LOG_LEVEL", "loud"), ("DAFFI_REQUIRE_CLIENT_CERT", "maybe")],
)
def test_a_bad_variable_is_one_line_naming_it(variable: str, raw: str) -> None:
    env = {**os.environ, variable: raw}
    done = subprocess.run(
        [sys.executable, "-m", "daffi_controller"], capture_output=True, text=True, timeout=30, env=env
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daffi-controller: error: "), lines
    assert f"${variable} must be" in lines[0] and repr(raw) in lines[0], lines


CONTROLLER_FLAGS = ["host", "port", "unix-sock-path", "log-level", "token-file", "ssl-certificate", "ssl-key"]
CONTROLLER_FLAGS += ["ssl-ca", "require-client-cert", "hello-timeout", "keepalive", "transport", "metrics-port"]
CONTROLLER_FLAGS += ["metrics-host"]


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ([], CONTROLLER_FLAGS),
        (["inspect"], ["host", "port", "unix-sock-path", "transport", "token-file"]),
    ],
    ids=["serve", "inspect"],
)
def test_help_names_the_variable_of_each_flag(command: list[str], flags: list[str]) -> None:
    argv = [sys.executable, "-m", "daffi_controller", *command, "--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # argparse wraps anywhere
    for flag in flags:
        assert f"--{flag}" in text
        assert f"[env DAFFI_{flag.upper().replace('-', '_')}]" in text, flag
    assert text.count("[env ") == len(flags), text  # inspect: not the TLS files, which mean others to the controller


@pytest.mark.parametrize("transport", ["grpc", "socket"])
def test_port_zero_listens_on_a_free_port_and_says_which(procs: Procs, transport: str) -> None:
    proc = procs.python("-m", "daffi_controller", "--host", "127.0.0.1", "--port", "0", "--transport", transport)
    found = re.search(r"ready on 127\.0\.0\.1:(\d+) ", proc.wait_line("ready on"))
    assert found, proc.output
    port = int(found[1])
    assert port > 0
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    report = inspect_json(Where(host="127.0.0.1", port=port, transport=transport))
    assert report["controller"]["transport"] == transport


def test_inspect_presents_the_token_file_of_its_variable(procs: Procs, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:
        where = Where(unix_sock_path=str(Path(tmp) / "ctl.sock"), transport="socket")
        procs.controller(where, "--token-file", str(token))
        refused = inspect(where)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert refused.stderr.startswith("daffi-controller inspect: error: the controller at "), refused.stderr
        assert "refused: missing or wrong daffi token" in refused.stderr
        env = {**os.environ, "DAFFI_TOKEN_FILE": str(token)}
        argv = [sys.executable, "-m", "daffi_controller", "inspect", *where.argv, "--json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["nodes"] == []
