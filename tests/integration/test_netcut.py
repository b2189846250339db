"""Network cuts between hosts: keepalive notices them, calls fail in bounded time, nodes come back.

The "hosts" are network namespaces joined by veth pairs (tests/support/netns.py): the controller
runs in a hub namespace, the calling node and the callee node each in a namespace of their own,
each on its own link to the hub. A cut drops packets silently (no link-down, no reset), as a
broken network does. The three processes get the same short keepalive by the three ways a user
can give it (``--keepalive``, ``$DAFFI_KEEPALIVE``, ``Global(keepalive=...)``).

Keepalive on both sides must never end in GOAWAY ``too_many_pings``: the processes run with gRPC's
error log on and no output may mention it; the last test shows that the line does appear when a
server refuses the pings. The tests print ``FIGURE`` lines that docs/reliability.md quotes
(``pytest -s``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from daffi import FG, Global
from daffi_core.errors import InitializationError
from daffi_core.keepalive import detection_bound

from tests.support.netns import Host, Link, Network, Unavailable
from tests.support.procs import SERVICES, Proc, Procs, Where, free_port

#: Seconds between keepalive pings on both sides: short, so that a cut is noticed in ~3 s.
KEEPALIVE = 2.0
#: Allowed beyond ping + timeout: the kernel's TCP user timeout (which gRPC sets to the keepalive
#: timeout and which closes the connection here) fires ~0.4 s late, plus scheduling on a busy machine.
SLACK = 1.5
PORT = 7000
#: Calls in flight when the link is cut (each holds a callback thread of the callee: 2 rounds of 16).
IN_FLIGHT = 16
#: gRPC logs a GOAWAY it receives at ERROR level; the C core prints to the processes' stderr.
GRPC_LOGS = {"GRPC_VERBOSITY": "ERROR"}
#: Tracing the keepalive pings: each one a log line, which lets a test wait for pings to have happened.
GRPC_PING_TRACE = {"GRPC_VERBOSITY": "DEBUG", "GRPC_TRACE": "http_keepalive"}
#: What such a line says when the node's transport sent a ping ("CLIENT[0x...]: Ping 123 sent [...]").
PING_SENT = "]: Ping "

# The calling node: runs rounds of calls that are in flight when the test cuts a link, reports how
# they ended, then calls until a call succeeds again. One JSON line per event, times from the
# monotonic clock that every process of the machine shares.
CALLER = r"""
import json, sys, time
from collections import Counter
from daffi import BG, FG, DaffiError, Global

host, port, keepalive, rounds, in_flight = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:6])


def say(line):  # one write: a log line of another thread cannot land inside it
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


g = Global(process_name="caller", host=host, port=port, keepalive=keepalive, connect_timeout=30)
g.wait_function("whoami", timeout=30)
say("READY caller")
for r in range(1, rounds + 1):
    results = [g.call.hang() & BG for _ in range(in_flight)]
    say(f"INFLIGHT {r}")
    outcomes, times = Counter(), []
    for result in results:
        try:
            result.get(timeout=60)
            outcomes["returned"] += 1
        except DaffiError as exc:
            outcomes[type(exc).__name__] += 1
        times.append(time.monotonic())
    say(f"SETTLED {r} " + json.dumps({"outcomes": outcomes, "first": min(times), "last": max(times)}))
    failed, longest, started = Counter(), 0.0, time.monotonic()
    while True:
        attempt = time.monotonic()
        try:
            who = g.call.whoami() & FG(timeout=5)
        except DaffiError as exc:
            failed[type(exc).__name__] += 1
            longest = max(longest, time.monotonic() - attempt)
            info = {"error": type(exc).__name__, "took": time.monotonic() - attempt}
            say(f"ATTEMPT {r} " + json.dumps(info))
            if time.monotonic() - started > 60:
                say(f"GAVE UP {r} " + json.dumps(failed))
                sys.exit(3)
            time.sleep(0.05)  # a call that failed at once must not spin
            continue
        longest = max(longest, time.monotonic() - attempt)
        info = {"who": who, "at": time.monotonic(), "failed": failed, "longest": longest}
        say(f"RECOVERED {r} " + json.dumps(info))
        break
g.stop()
say("DONE caller")
"""


@dataclass
class Lab:
    """The hosts of a test, its processes, and a network that is deleted after them."""

    net: Network
    procs: Procs
    hub: Host
    caller_link: Link
    callee_link: Link


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are a Linux feature")
    net = Network()
    procs = Procs(tmp_path)
    try:
        try:
            hub = net.host("hub")
            caller_host, callee_host = net.host("caller"), net.host("callee")
            caller_link, callee_link = net.link(hub, caller_host), net.link(hub, callee_host)
        except Unavailable as exc:
            pytest.skip(f"no network namespaces here: {exc}")
        yield Lab(net, procs, hub, caller_link, callee_link)
    finally:
        procs.close()  # every process first: a namespace lives as long as a process inside it
        net.close()


def _spawn(procs: Procs, host: Host, *argv: str, env: dict[str, str]) -> Proc:
    return procs.spawn(*host.argv(sys.executable, *argv), env=env)


def _event(proc: Proc, tag: str, timeout: float) -> dict[str, Any]:
    line = proc.wait_line(tag + " ", timeout)
    info: dict[str, Any] = json.loads(line.split(" ", 2)[2])
    return info


def _count(proc: Proc, needle: str) -> int:
    """Occurrences of ``needle`` in the output (threads printing at once can share a line)."""
    return sum(line.count(needle) for line in list(proc.lines))


def _wait_count(proc: Proc, needle: str, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(proc, needle) < n:
        if time.monotonic() > deadline or proc.popen.poll() is not None:
            raise AssertionError(f"fewer than {n} lines with {needle!r} within {timeout} s:\n{proc.output}")
        time.sleep(0.02)


def _logged_at(proc: Proc, needle: str, timeout: float) -> float:
    """Wall-clock time of the controller's first log line with ``needle`` (its log lines start with asctime)."""
    line = proc.wait_line(needle, timeout)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


@pytest.mark.parametrize("transport", ["grpc", "socket"])
def test_network_cut_is_detected_and_nodes_reconnect(lab: Lab, tmp_path: Path, transport: str) -> None:
    try:
        _cut_twice(lab, tmp_path, {**GRPC_LOGS, "DAFFI_TRANSPORT": transport})
    except BaseException:
        for proc in lab.procs.started:  # what every process said, for the failure report
            print(f"--- output of {' '.join(proc.argv[4:])}\n{proc.output}")
        raise


def _cut_twice(lab: Lab, tmp_path: Path, env: dict[str, str]) -> None:
    bound = detection_bound(KEEPALIVE)
    ctl = _spawn(
        lab.procs,
        lab.hub,
        "-m",
        "daffi_controller",
        *("--host", "0.0.0.0", "--port", str(PORT), "--keepalive", str(KEEPALIVE)),
        env=env,
    )
    ctl.wait_line("ready on")
    callee = _spawn(
        lab.procs,
        lab.callee_link.b,
        str(SERVICES / "service.py"),
        *("--name", "svc", "--host", lab.callee_link.a_ip, "--port", str(PORT)),
        env={**env, "DAFFI_KEEPALIVE": str(KEEPALIVE)},
    )
    callee.wait_line("READY svc")
    script = tmp_path / "caller.py"
    script.write_text(CALLER)
    argv = (str(script), lab.caller_link.a_ip, str(PORT), str(KEEPALIVE), "2", str(IN_FLIGHT))
    caller = _spawn(lab.procs, lab.caller_link.b, *argv, env=env)
    caller.wait_line("READY caller")

    figures = []
    # Round 1 cuts the caller's own link: its node's keepalive notices. Round 2 cuts the callee's
    # link: the controller's keepalive notices and fails the calls it routed there.
    for r, link, side in ((1, lab.caller_link, "caller's link"), (2, lab.callee_link, "callee's link")):
        caller.wait_line(f"INFLIGHT {r}", 30)
        # Every call runs on the callee (counted from the start: the first may begin before INFLIGHT is read).
        _wait_count(callee, "BEGIN hang svc", r * IN_FLIGHT, 30)
        cut_at, cut_wall = time.monotonic(), time.time()
        link.cut()
        settled = _event(caller, f"SETTLED {r}", bound + 15)
        assert settled["outcomes"] == {"RemoteStoppedUnexpectedly": IN_FLIGHT}, settled
        failed_after = settled["last"] - cut_at
        dropped = "caller" if r == 1 else "svc"
        ctl_after = _logged_at(ctl, f"node {dropped!r} left", bound + 15) - cut_wall
        # A call made during the cut fails too, in bounded time (the node waits for a connection, or
        # for a node offering the callback, for a few seconds): keep the link cut until one has.
        attempt = _event(caller, f"ATTEMPT {r}", 15)
        assert attempt["took"] < 5 + SLACK, attempt
        restored_at = time.monotonic()
        link.restore()
        recovered = _event(caller, f"RECOVERED {r}", 30)
        assert recovered["who"] == "svc"
        back_after = recovered["at"] - restored_at
        figures.append(
            f"{side} cut: {IN_FLIGHT} calls in flight all raised RemoteStoppedUnexpectedly "
            f"{settled['first'] - cut_at:.2f}-{failed_after:.2f} s after the cut, the controller dropped "
            f"{dropped!r} after {ctl_after:.2f} s; a call succeeded {back_after:.2f} s after the link returned "
            f"(calls during the cut: {dict(recovered['failed'])}, longest {recovered['longest']:.2f} s)"
        )
        assert failed_after < bound + SLACK, figures[-1]
        assert ctl_after < bound + SLACK, figures[-1]
        assert recovered["longest"] < 5 + SLACK, figures[-1]  # a call never outlives its 5 s timeout
        assert back_after < 5.0, figures[-1]

    caller.wait_line("DONE caller", 15)
    assert caller.wait(15) == 0
    print(
        f"FIGURE netcut ({env['DAFFI_TRANSPORT']}): keepalive {KEEPALIVE:g} s (ping + timeout = {bound:g} s); "
        + "; ".join(figures)
    )
    # Nothing was restarted: the callee reconnected by itself, each node connected once per cut.
    assert callee.popen.poll() is None and ctl.popen.poll() is None
    assert _count(callee, "READY svc") == 1
    assert _count(callee, "lost the connection") == 1
    assert _count(callee, "connected to the controller") == 2
    for proc in (ctl, callee, caller):
        assert "too_many_pings" not in proc.output, proc.output
        assert "Traceback" not in proc.output, proc.output


def test_short_node_keepalive_against_default_controller_gets_no_goaway(procs: Procs) -> None:
    """A node pinging every second while the controller keeps its 20 s default: no GOAWAY, no drop.

    gRPC's own ping policy ("ping strikes") is what this guards against; the socket transport has
    none (its pings are frames the other side answers, tests/controller/test_socket_wire.py)."""
    tcp = Where(host="127.0.0.1", port=free_port(), transport="grpc")
    ctl = procs.controller(tcp, env=GRPC_LOGS)
    node = procs.service(tcp, "svc", env={**GRPC_PING_TRACE, "DAFFI_KEEPALIVE": "1"})
    started = time.monotonic()
    # gRPC's default would refuse the third ping without data ("ping strikes"); wait for five.
    _wait_count(node, PING_SENT, 5, 20)
    with Global(process_name="caller", host=tcp.host, port=tcp.port) as g:
        assert g.call.whoami() & FG(timeout=5) == "svc"
    pings = _count(node, PING_SENT)
    took = time.monotonic() - started
    print(f"FIGURE keepalive-mismatch: node keepalive 1 s, controller 20 s: {pings} pings in {took:.1f} s, no GOAWAY")
    for proc in (ctl, node):
        assert "too_many_pings" not in proc.output, proc.output
    assert "lost the connection" not in node.output


# A gRPC server with gRPC's usual ping policy (here: pings without data at most every 10 s) and a
# channel with daffi's client options and a 1 s keepalive.
STRICT_SERVER = """
import asyncio, grpc
from daffi_core.transport.grpc import client_options

async def main():
    server = grpc.aio.server(options=[("grpc.http2.min_ping_interval_without_data_ms", 10_000)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=client_options(1.0))
    await asyncio.wait_for(channel.channel_ready(), 10)
    print("CONNECTED", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_a_goaway_too_many_pings_would_show_in_the_output(procs: Procs) -> None:
    """The control for the assertions above: a server that refuses the pings makes the line appear."""
    proc = procs.python("-c", STRICT_SERVER, env=GRPC_LOGS)
    proc.wait_line("CONNECTED", 15)
    proc.wait_line("too_many_pings", 15)


def test_keepalive_outside_its_range_is_refused(procs: Procs, tcp: Where, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = procs.python("-m", "daffi_controller", *tcp.argv, "--keepalive", "0.5")
    ctl.wait_line("daffi-controller: error: keepalive must be from 1 to 86400 seconds, not 0.5", 15)
    assert ctl.wait(15) == 2
    monkeypatch.setenv("DAFFI_KEEPALIVE", "soon")
    with pytest.raises(InitializationError, match=r"\$DAFFI_KEEPALIVE must be a number of seconds, not 'soon'"):
        Global(process_name="caller", host=tcp.host, port=tcp.port)
