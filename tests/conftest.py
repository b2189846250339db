"""Shared fixtures: controller addresses (TCP and UNIX), process management, an in-test Global."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

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
#: ``DAFFI_TEST_NATS=1`` runs the tests written for a controller on the NATS transport instead: the
#: ``controller`` fixture is then a nats-server (tests/support/nats.py), and no controller runs.
NATS_ONLY = os.environ.get("DAFFI_TEST_NATS") == "1"
if NATS_ONLY:
    WHERE = ["nats-tcp"]


@pytest.fixture(params=WHERE)
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Where]:
    """A fresh controller address and its transport (also in ``$DAFFI_TRANSPORT``, for every process
    the test starts): TCP on 127.0.0.1 or a UNIX socket in a private directory."""
    transport, family = request.param.split("-")
    monkeypatch.setenv("DAFFI_TRANSPORT", transport)
    if family == "tcp":
        yield Where(host="127.0.0.1", port=free_port(), transport=transport)
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
    """A daffi-controller process listening at ``where`` (with ``DAFFI_TEST_NATS=1``: a nats-server)."""
    if where.transport == "nats":
        from tests.support.nats import start_server

        return start_server(procs).where
    procs.controller(where)
    return where
