"""``transport="nats"``: nodes on a NATS server (or a cluster of three), no daffi controller.

The behaviour and codegen suites (the modules marked ``nats``) already run on one nats-server
and on a 3-server cluster (tests/conftest.py). This module holds what only NATS has: nodes
joining at once with no registry, the server and auth options, a server restart, a callee
failing over to another server, and the tools' refusals. Real processes: the test process is
the caller, tests/services/*.py are the callees, nats-servers (tests/support/nats.py) listen on
loopback ports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import daffi
import pytest
from daffi import BG, FG, Global
from daffi_core.errors import InitializationError

from tests.support.certs import Authority
from tests.support.nats import NatsServer, start_cluster, start_server
from tests.support.nodes import caller, wait_until
from tests.support.procs import SERVICES, Procs, Where


@pytest.fixture
def nats(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> Iterator[Where]:
    """One nats-server; every process the test starts speaks ``transport="nats"`` to it."""
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    yield start_server(procs).where


@pytest.fixture
def cluster(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> list[NatsServer]:
    """Three routed nats-servers."""
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    return start_cluster(procs, 3)


def _kwargs(where: Where) -> dict[str, Any]:
    """``where`` as Global's keyword arguments (typed for Global's parameters)."""
    return dict(where.kwargs)


# -- the catalogue


def test_nodes_joining_at_once_all_find_each_other(procs: Procs, nats: Where) -> None:
    def _known_nodes() -> list[str]:  # local: dill sends it by value to the node that runs it
        from daffi import get_g

        return sorted(get_g().registered_callbacks)

    names = [f"s{i}" for i in range(5)]
    started = [procs.python(str(SERVICES / "service.py"), "--name", name, *nats.argv) for name in names]
    for proc, name in zip(started, names, strict=True):
        proc.wait_line(f"READY {name}")
    with caller(nats) as g:
        assert sorted(g.registered_callbacks) == names  # the Welcome had every one of them
        for name in names:
            expected = sorted({*names, "caller"} - {name})

            def knows_all(node: str = name, others: list[str] = expected) -> bool:
                return bool(g.transfer_and_call(node, _known_nodes) == others)

            wait_until(knows_all, what=f"{name} knows all")


def test_duplicate_name_is_refused(procs: Procs, nats: Where) -> None:
    procs.service(nats, "svc")
    with pytest.raises(InitializationError, match="already on the NATS server"):
        Global(process_name="svc", **_kwargs(nats), connect_timeout=5)


def test_no_server_fails_within_connect_timeout(nats: Where) -> None:
    where = Where(host="127.0.0.1", port=1, transport="nats")
    start = time.monotonic()
    with pytest.raises(InitializationError, match="no NATS server answered"):
        Global(process_name="lonely", **_kwargs(where), connect_timeout=1)
    assert time.monotonic() - start < 5


def test_nats_runs_no_controller() -> None:
    with pytest.raises(InitializationError, match="no daffi controller"):
        Global(init_controller=True, host="127.0.0.1", port=4222, transport="nats")
    with pytest.raises(InitializationError, match="UNIX socket"):
        Global(process_name="x", transport="nats")


def test_token_and_tls(procs: Procs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    authority = Authority(tmp_path)
    cert = authority.issue("nats", server=True)
    tls = ["--tls", "--tlscert", cert.certificate, "--tlskey", cert.key]
    server = start_server(procs, extra=["--auth", "s3cret", *tls])
    where = server.where
    env = {"DAFFI_TOKEN": "s3cret"}
    procs.service(where, "svc", "service.py", "--ssl-ca", authority.ca, env=env)
    with caller(where, token="s3cret", ssl_ca=authority.ca) as g:
        assert g.call.add(2, 3) & FG == 5
    start = time.monotonic()
    with pytest.raises(InitializationError, match="refused this node"):
        Global(process_name="intruder", **_kwargs(where), token="wrong", ssl_ca=authority.ca, connect_timeout=10)
    assert time.monotonic() - start < 5  # refused at once, not after connect_timeout
    # the tools take the same token and TLS options
    listing = [sys.executable, "-m", "daffi_codegen", *where.argv, "--ssl-ca", authority.ca, "--list"]
    listing += ["--timeout", "10"]
    done = subprocess.run(listing, capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert done.returncode == 0 and "svc" in done.stdout, done.stderr
    start = time.monotonic()
    wrong = {**os.environ, "DAFFI_TOKEN": "wrong"}
    done = subprocess.run(listing, capture_output=True, text=True, timeout=60, env=wrong)
    assert done.returncode == 2 and "refused daffi-codegen" in done.stderr, done.stderr
    assert time.monotonic() - start < 8  # an interpreter start, then refused at once (not after --timeout)


# -- failures


def test_the_server_restarts(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    server = start_server(procs)
    where = server.where
    svc = procs.service(where, "svc")
    with caller(where) as g:
        pending = g.call.slow(30) & BG
        svc.wait_line("BEGIN slow", timeout=10)
        server.stop()  # like a controller that goes away: open calls fail, the nodes reconnect
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=10)
        start_server(procs, port=server.port)
        g.wait_process("svc", timeout=20)
        assert g.call.whoami() & FG(timeout=10) == "svc"


# -- a cluster of three servers


def test_callee_fails_over_to_another_server_of_the_cluster(procs: Procs, cluster: list[NatsServer]) -> None:
    one, two, _ = cluster
    svc = procs.service(two.where, "svc2")
    with caller(one.where) as g:
        g.wait_process("svc2", timeout=10)
        pending = g.call.slow(30) & BG
        svc.wait_line("BEGIN slow", timeout=10)
        start = time.monotonic()
        two.stop()  # svc2 reconnects to a server it learnt from the cluster; its old session's call is lost
        with pytest.raises(daffi.RemoteStoppedUnexpectedly):
            pending.get(timeout=15)
        assert time.monotonic() - start < 8
        wait_until(lambda: "svc2" in g.registered_callbacks, timeout=15, what="svc2 is back")
        assert g.call.whoami() & FG(timeout=10) == "svc2"


# -- tools


def test_controller_refuses_the_nats_transport(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = procs.python("-m", "daffi_controller", "--port", "0", "--transport", "nats")
    assert refused.wait(30) == 2  # not among its choices
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    refused = procs.python("-m", "daffi_controller", "--port", "0")
    assert refused.wait(30) == 2  # $DAFFI_TRANSPORT is checked against the same choices
    assert "'nats'" in refused.output, refused.output


def test_without_nats_py_the_error_names_the_extra(procs: Procs, nats: Where) -> None:
    script = (
        "import sys\n"
        "sys.modules['nats'] = None  # as if the extra were not installed\n"
        "from daffi import Global\n"
        f"Global(process_name='x', host={nats.host!r}, port={nats.port}, transport='nats')\n"
    )
    proc = procs.python("-c", script)
    assert proc.wait(30) != 0
    assert "InitializationError" in proc.output and "pip install daffi-node[nats]" in proc.output, proc.output
