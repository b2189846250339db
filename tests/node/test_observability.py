"""A node's metrics (``Global(metrics_port=...)``) and its traces (OpenTelemetry), with real processes.

The traced nodes (tests/services/traced_service.py) run the OpenTelemetry SDK and write each
finished span to a file; the test reads those files once the spans it expects are there.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daffi import BG, FG, RemoteCallError

from tests.support.nodes import caller, wait_until
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

SERVICE = "traced_service.py"


def _spans(files: list[Path]) -> list[dict[str, Any]]:
    return [json.loads(line) for f in files if f.exists() for line in f.read_text().splitlines() if line]


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def _value(text: str, sample: str) -> float:
    """The value of one sample line (``name{labels}``), 0 when absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def traced(procs: Procs, controller: Where, tmp_path: Path) -> Iterator[dict[str, Path]]:
    files = {role: tmp_path / f"spans-{role}.jsonl" for role in "abc"}
    for role, path in files.items():
        procs.service(controller, f"tr-{role}", SERVICE, "--role", role, "--spans", str(path))
    yield files


def test_one_trace_runs_from_caller_through_callee_to_the_nested_call(
    controller: Where, traced: dict[str, Path]
) -> None:
    with caller(controller) as g:
        g.wait_function("leaf", timeout=10)
        g.wait_function("start", timeout=10)
        assert g.call.start(41) & FG == 42
        files = list(traced.values())
        wait_until(lambda: len(_spans(files)) >= 5, what="five spans written")
    spans = {s["name"]: s for s in _spans(files)}
    chain = ["daffi.serve start", "daffi.call hop", "daffi.serve hop", "daffi.call leaf", "daffi.serve leaf"]
    assert set(spans) == set(chain)
    assert len({s["trace"] for s in spans.values()}) == 1, "one trace"
    for parent, child in itertools.pairwise(chain):
        assert spans[child]["parent"] == spans[parent]["span"], (child, parent)
    assert [spans[n]["kind"] for n in chain] == ["SERVER", "CLIENT", "SERVER", "CLIENT", "SERVER"]
    hop = spans["daffi.serve hop"]["attributes"]
    assert hop["daffi.caller"] == "tr-a" and hop["daffi.callee"] == "tr-b" and hop["daffi.outcome"] == "ok"
    assert hop["daffi.modifier"] == "FG" and hop["rpc.method"] == "hop"
    assert spans["daffi.call leaf"]["attributes"]["daffi.caller"] == "tr-b"


def test_broadcast_gives_a_server_span_per_receiver_and_a_stream_one_span(
    controller: Where, traced: dict[str, Path]
) -> None:
    with caller(controller) as g:
        g.wait_function("fan", timeout=10)
        g.wait_function("leaf", timeout=10)  # tr-c is connected: the broadcast reaches both
        assert g.call.fan(300) & FG == ["tr-b", "tr-c"]
        files = list(traced.values())
        wait_until(lambda: len(_spans(files)) >= 6, what="six spans written")
    spans = _spans(files)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        by_name.setdefault(s["name"], []).append(s)
    pings = by_name["daffi.serve ping"]
    assert sorted(p["attributes"]["daffi.callee"] for p in pings) == ["tr-b", "tr-c"]
    (call_ping,) = by_name["daffi.call ping"]
    assert call_ping["attributes"]["daffi.modifier"] == "BROADCAST"
    assert all(p["parent"] == call_ping["span"] for p in pings)
    (serve_sink,) = by_name["daffi.serve sink"]  # 300 items, one span
    (call_sink,) = by_name["daffi.call sink"]
    assert serve_sink["parent"] == call_sink["span"] and call_sink["attributes"]["daffi.modifier"] == "STREAM"
    assert len({s["trace"] for s in spans}) == 1


def test_a_failing_call_marks_both_spans(controller: Where, traced: dict[str, Path]) -> None:
    with caller(controller) as g:
        g.wait_function("boom", timeout=10)
        with pytest.raises(RemoteCallError):
            g.call.boom() & FG
        wait_until(lambda: len(_spans([traced["c"]])) >= 1, what="the span of boom written")
    (serve,) = _spans([traced["c"]])
    assert serve["status"] == "ERROR" and serve["attributes"]["daffi.outcome"] == "error"


def test_node_metrics_count_calls_made_and_served(procs: Procs, controller: Where, tmp_path: Path) -> None:
    svc = procs.service(controller, "tr-c", SERVICE, "--role", "c", "--spans", str(tmp_path / "s"), "--metrics")
    served_port = int(svc.wait_line("METRICS").split()[1])
    with caller(controller, metrics_port=0) as g:
        assert g.metrics_port
        g.wait_function("leaf", timeout=10)
        for i in range(5):
            assert g.call.leaf(i) & FG == i + 1
        assert (g.call.leaf(1) & BG).get(timeout=10) == 2
        with pytest.raises(RemoteCallError):
            g.call.boom() & FG
        made = _scrape(g.metrics_port)
        assert _value(made, 'daffi_node_calls_made_total{callback="leaf",modifier="FG",outcome="ok"}') == 5
        assert _value(made, 'daffi_node_calls_made_total{callback="leaf",modifier="BG",outcome="ok"}') == 1
        assert _value(made, 'daffi_node_calls_made_total{callback="boom",modifier="FG",outcome="error"}') == 1
        assert _value(made, 'daffi_node_call_duration_seconds_count{callback="leaf",side="made"}') == 6
        assert _value(made, 'daffi_node_calls_in_flight{side="made"}') == 0
    served = 'daffi_node_calls_served_total{callback="leaf",outcome="ok"}'
    wait_until(lambda: _value(_scrape(served_port), served) == 6, what="six calls of leaf served")
    text = _scrape(served_port)
    assert _value(text, 'daffi_node_calls_served_total{callback="boom",outcome="error"}') == 1
    assert _value(text, 'daffi_node_call_duration_seconds_count{callback="leaf",side="served"}') == 6


def test_without_opentelemetry_calls_carry_no_trace_and_nothing_of_it_is_imported(
    procs: Procs, controller: Where
) -> None:
    procs.service(controller, "obs-svc")
    script = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # as if the extra were not installed\n"
        "from daffi import Global, FG\n"
        f"with Global(process_name='no-otel', **{controller.kwargs!r}) as g:\n"
        "    g.wait_function('add', timeout=10)\n"
        "    assert g.call.add(1, 2) & FG == 3\n"
        "print('TRACING', 'daffi._tracing' in sys.modules, flush=True)\n"
    )
    proc = procs.python("-c", script)
    assert proc.wait_line("TRACING").split() == ["TRACING", "False"]
    assert proc.wait(timeout=30) == 0
