"""Shared fixtures: controller addresses (TCP and UNIX), process management, an in-test Global."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nats import start_cluster, start_server
from tests.support.procs import Procs, Where, free_port


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    manager = Procs(tmp_path)
    try:
        yield manager
    finally:
        manager.close()


#: Every behaviour runs on each transport: gRPC on TCP, the socket transport on TCP and on UNIX
#: sockets (what ``"auto"`` picks there). gRPC on UNIX sockets is covered by tests that ask for it.
WHERE = ["grpc-tcp", "socket-tcp", "socket-unix"]
#: Modules marked ``nats`` (the behaviour and codegen tests) also run with no controller, on NATS:
#: one nats-server, and a 3-server cluster on which the processes a test starts connect to the
#: servers in turn (``Where.cluster``), so that calls cross the cluster's routes.
NATS_WHERE = ["nats-tcp", "nats-cluster"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "where" in metafunc.fixturenames:
        on_nats = metafunc.definition.get_closest_marker("nats") is not None
        metafunc.parametrize("where", WHERE + NATS_WHERE if on_nats else WHERE, indirect=True)


@pytest.fixture
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Where]:
    """A fresh controller address and its transport (also in ``$DAFFI_TRANSPORT``, for every process
    the test starts): TCP on 127.0.0.1, a UNIX socket in a private directory, or NATS servers'
    client ports."""
    transport, family = request.param.split("-")
    monkeypatch.setenv("DAFFI_TRANSPORT", transport)
    if family == "tcp":
        yield Where(host="127.0.0.1", port=free_port(), transport=transport)
    elif family == "cluster":
        yield Where(host="127.0.0.1", port=free_port(), transport=transport, cluster=(free_port(), free_port()))
    else:
        # AF_UNIX paths are limited to ~107 bytes: keep the directory short.
        with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:
            yield Where(unix_sock_path=str(Path(tmp) / "ctl.sock"), transport=transport)


@pytest.fixture(params=["grpc", "socket"])
def tcp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Where:
    """A TCP address on each transport (TLS and keepalive tests)."""
    monkeypatch.setenv("DAFFI_TRANSPORT", request.param)
    return Where(host="127.0.0.1", port=free_port(), transport=request.param)


@pytest.fixture
def controller(procs: Procs, where: Where) -> Where:
    """A daffi-controller process listening at ``where``; on NATS, the nats-server(s) instead."""
    if where.transport == "nats":
        if where.cluster:
            start_cluster(procs, ports=[where.port or 0, *where.cluster])
        else:
            start_server(procs, port=where.port)
        return where
    procs.controller(where)
    return where
