"""Runs benchmark cells: one workload on one implementation and transport, in fresh processes.

A cell starts the controller (or router, or relay), waits for its ready line (the start → ready
time), starts the callees, runs the caller(s), reads the controller's memory from /proc, and
kills every process group it started. Every step is bounded by the cell's deadline; a cell
that runs out of time records ``timeout``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import child

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready on|^READY$")
SERVED_TRANSPORT = re.compile(r"\[transport=(\w+)\]")  # in daffi-controller's ready line
RESULT = re.compile(r"^RESULT (.*)$")
WAITING = re.compile(r"^WAITING$")
MEASURED = re.compile(r"^MEASURED$")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


class CellError(Exception):
    pass


class CellTimeout(CellError):
    pass


@dataclass(frozen=True)
class Impl:
    """One framework under test."""

    key: str
    label: str
    env: str  # the hatch environment its processes run in
    module: str  # the node script (``python -m module ...``)
    transports: tuple[str, ...] = ("tcp", "unix")
    #: daffi (this repo) only: its transport, given explicitly to both sides (``--transport``)
    daffi_transport: str | None = None


IMPLS: dict[str, Impl] = {
    "daffi-grpc": Impl("daffi-grpc", "daffi gRPC", "bench", "bench.node_daffi", daffi_transport="grpc"),
    "daffi-socket": Impl("daffi-socket", "daffi socket", "bench", "bench.node_daffi", daffi_transport="socket"),
    "daffi2": Impl("daffi2", "daffi 2.2.1", "bench-daffi2", "bench.node_daffi2"),
    "daffi3": Impl("daffi3", "daffi 3.0.1", "bench-daffi3", "bench.node_daffi3"),
    "relay": Impl("relay", "grpc.aio relay", "bench", "bench.relay"),
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child(child.Child):
    """A cell's process; remembers the first line matching each marker pattern and when it came."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.matches: list[tuple[re.Pattern[str], re.Match[str]]] = []
        self.seen_at: dict[str, float] = {}
        self._patterns = (READY, RESULT, WAITING, MEASURED)
        super().__init__(name, args, env)

    def _on_line(self, now: float, line: str) -> None:
        for pattern in self._patterns:
            match = pattern.search(line)
            if match:
                self.matches.append((pattern, match))
                self.seen_at.setdefault(pattern.pattern, now)

    def wait_for(self, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            return next((match for seen, match in self.matches if seen is pattern), None)

        return self._wait(found, deadline, CellError, lambda: CellTimeout(f"timeout waiting for {self.name}"))


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
    impl: Impl
    transport: str
    params: dict[str, Any]
    timeout: float
    extra_env: dict[str, str] = field(default_factory=dict)
    wrapper: list[str] = field(default_factory=list)  # e.g. ["taskset", "-c", "0"]
    profile: Any = None  # a callable(pids: dict[str, int]) started when a W1 caller starts measuring


def _server_args(impl: Impl, py: str, addr: str, transport: str, path: str, port: int) -> list[str]:
    if impl.daffi_transport:
        where = ["--unix-sock-path", path] if transport == "unix" else ["--host", "127.0.0.1", "--port", str(port)]
        return [py, "-m", "daffi_controller", *where, "--transport", impl.daffi_transport]
    return [py, "-m", impl.module, "server", "--addr", addr]


def _node_args(impl: Impl, py: str, role: str, addr: str, name: str) -> list[str]:
    """A callee's or caller's command line (daffi: with its transport)."""
    args = [py, "-m", impl.module, role, "--addr", addr, "--name", name]
    if impl.daffi_transport:
        args += ["--transport", impl.daffi_transport]
    return args


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **(extra or {}))
    env.pop("VIRTUAL_ENV", None)
    env.pop("DAFFI_TRANSPORT", None)  # every daffi process gets --transport; nothing inherited
    return env


def _check_ready(impl: Impl, ready: re.Match[str]) -> None:
    """daffi's controller names the transport it serves in its ready line: it must be the wanted one."""
    if not impl.daffi_transport:
        return
    served = SERVED_TRANSPORT.search(ready.string)
    if served is None or served.group(1) != impl.daffi_transport:
        raise CellError(f"controller does not serve transport={impl.daffi_transport}: {ready.string.strip()!r}")


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
    background = background_busy()
    impl = cell.impl
    py = python_for(impl.env)
    tmp = tempfile.mkdtemp(prefix="daffi-bench-")
    port = free_port()
    path = os.path.join(tmp, "ctl.sock")
    addr = f"unix:{path}" if cell.transport == "unix" else f"tcp:127.0.0.1:{port}"
    env = _environment(cell.extra_env)
    deadline = time.monotonic() + cell.timeout
    children: list[Child] = []
    out: dict[str, Any] = {"background_busy": background}
    p = cell.params
    try:
        server = Child("controller", [*cell.wrapper, *_server_args(impl, py, addr, cell.transport, path, port)], env)
        children.append(server)
        _check_ready(impl, server.wait_for(READY, deadline))
        out["ready_s"] = server.seen_at[READY.pattern] - server.started

        callee_names = [f"callee-{i + 1}" for i in range(p.get("callees", 1))]
        callees = []
        for name in callee_names:
            args = [*cell.wrapper, *_node_args(impl, py, "callee", addr, name)]
            callees.append(Child(name, args, env))
        children.extend(callees)
        for callee in callees:
            callee.wait_for(READY, deadline)

        n_callers = p.get("callers", 1)
        params = dict(p, wait_for=callee_names, wait_timeout=max(5.0, deadline - time.monotonic()))
        callers = []
        for i in range(n_callers):
            name = f"caller-{i + 1}"
            args = [*cell.wrapper, *_node_args(impl, py, "caller", addr, name)]
            args += ["--workload", cell.workload, "--params", json.dumps(params)]
            callers.append(Child(name, args, env))
        children.extend(callers)

        if cell.workload in ("w1", "w6"):
            for caller in callers:
                caller.wait_for(WAITING, deadline)
            pids = {"controller": server.proc.pid, "callee": callees[0].proc.pid}
            cpu0 = {k: proc_cpu(v) for k, v in pids.items()}
            profiler = cell.profile(dict(pids, caller=callers[0].proc.pid)) if cell.profile else None
            for caller in callers:
                caller.send("go")
            if cell.workload == "w1":
                callers[0].wait_for(MEASURED, deadline)
                calls = p["calls"]
                for k, v in pids.items():
                    out[f"{k}_cpu_us_per_call"] = (proc_cpu(v) - cpu0[k]) / calls * 1e6
            if profiler is not None:
                out["profile"] = profiler()

        results = [json.loads(c.wait_for(RESULT, deadline).group(1)) for c in callers]
        out["controller_mem"] = proc_memory(server.proc.pid)
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
    except CellTimeout:
        out["error"] = "timeout"
    except CellError as exc:
        out["error"] = str(exc)
    finally:
        for child in reversed(children):
            child.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_soak(impl: Impl, transport: str, params: dict[str, dict[str, Any]], timeout: float) -> dict[str, Any]:
    """W1-W5 one after the other against ONE controller: its peak RSS at the end."""
    py = python_for(impl.env)
    tmp = tempfile.mkdtemp(prefix="daffi-bench-")
    port = free_port()
    path = os.path.join(tmp, "ctl.sock")
    addr = f"unix:{path}" if transport == "unix" else f"tcp:127.0.0.1:{port}"
    env = _environment()
    deadline = time.monotonic() + timeout
    children: list[Child] = []
    out: dict[str, Any] = {"steps": {}}
    try:
        server = Child("controller", _server_args(impl, py, addr, transport, path, port), env)
        children.append(server)
        _check_ready(impl, server.wait_for(READY, deadline))
        out["ready_s"] = server.seen_at[READY.pattern] - server.started
        callees: list[Child] = []
        for workload in ("w1", "w2", "w3", "w4", "w5"):
            p = dict(params[workload])
            wanted = p.get("callees", 1)
            while len(callees) < wanted:
                name = f"callee-{len(callees) + 1}"
                child = Child(name, _node_args(impl, py, "callee", addr, name), env)
                callees.append(child)
                children.append(child)
                child.wait_for(READY, deadline)
            p.update(wait_for=[c.name for c in callees], wait_timeout=max(5.0, deadline - time.monotonic()))
            args = _node_args(impl, py, "caller", addr, f"caller-{workload}")
            caller = Child(workload, [*args, "--workload", workload, "--params", json.dumps(p)], env)
            children.append(caller)
            if workload == "w1":
                caller.wait_for(WAITING, deadline)
                caller.send("go")
            result = json.loads(caller.wait_for(RESULT, deadline).group(1))
            caller.kill()
            out["steps"][workload] = {"error": result["error"]} if "error" in result else "ok"
            out["steps"][workload + "_mem"] = proc_memory(server.proc.pid)
        out["controller_mem"] = proc_memory(server.proc.pid)
    except CellTimeout:
        out["error"] = "timeout"
        out["controller_mem"] = proc_memory(children[0].proc.pid) if children else {}
    except CellError as exc:
        out["error"] = str(exc)
    finally:
        for child in reversed(children):
            child.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return out
