"""Choosing the transport: one name on every side, ``"auto"`` by address, mismatches refused at connect."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daffi import FG, Global, InitializationError

from tests.support.certs import Authority
from tests.support.nats import start_server
from tests.support.procs import Procs, Where, free_port


@pytest.fixture(params=["tcp", "unix"])
def family(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def _address(family: str, folder: str) -> dict[str, object]:
    if family == "tcp":
        return {"host": "127.0.0.1", "port": free_port()}
    return {"unix_sock_path": str(Path(folder) / "c.sock")}


@pytest.fixture
def short_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="daffi-") as folder:  # AF_UNIX paths are short
        yield folder


@pytest.mark.parametrize(("theirs", "ours"), [("grpc", "socket"), ("socket", "grpc")])
def test_a_node_of_the_other_transport_fails_at_connect_naming_both(
    procs: Procs, family: str, short_dir: str, theirs: str, ours: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAFFI_TRANSPORT", raising=False)
    address = _address(family, short_dir)
    procs.controller(Where(**address, transport=theirs))  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(InitializationError) as info:
        Global(process_name="other", transport=ours, connect_timeout=10, **address)  # type: ignore[arg-type]
    took = time.monotonic() - started
    message = str(info.value)
    assert f"speaks transport={theirs!r}" in message and f"uses transport={ours!r}" in message, message
    assert took < 1.5, f"a transport mismatch took {took:.2f} s to be told (the connect timeout is 10 s)"


@pytest.mark.parametrize(("theirs", "ours"), [("grpc", "socket"), ("socket", "grpc")])
def test_codegen_of_the_other_transport_fails_naming_both(procs: Procs, theirs: str, ours: str) -> None:
    where = Where(host="127.0.0.1", port=free_port(), transport=theirs)
    procs.controller(where)
    argv = [sys.executable, "-m", "daffi_codegen", "--host", "127.0.0.1", "--port", str(where.port), "--list"]
    started = time.monotonic()
    done = subprocess.run([*argv, "--transport", ours], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done
    assert f"speaks transport={theirs!r}" in done.stderr and f"uses transport={ours!r}" in done.stderr, done.stderr
    assert time.monotonic() - started < 5  # a whole interpreter start included
    assert subprocess.run([*argv, "--transport", theirs], capture_output=True, timeout=30).returncode == 0


@pytest.mark.parametrize(
    ("theirs", "ours"), [("nats", "socket"), ("nats", "grpc"), ("socket", "nats"), ("grpc", "nats")]
)
def test_nats_and_a_controller_fail_at_connect_naming_both(
    procs: Procs, theirs: str, ours: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAFFI_TRANSPORT", raising=False)
    if theirs == "nats":
        port, server = start_server(procs).port, "NATS server"
    else:
        port, server = free_port(), "controller"
        procs.controller(Where(host="127.0.0.1", port=port, transport=theirs))
    told = f"the {server} at 127.0.0.1:{port} speaks transport={theirs!r} but this node uses transport={ours!r}"
    started = time.monotonic()
    with pytest.raises(InitializationError) as info:
        Global(process_name="other", transport=ours, connect_timeout=10, host="127.0.0.1", port=port)
    took = time.monotonic() - started
    assert str(info.value).startswith(told), info.value
    # nats-py waits up to 2 s for a server's greeting, which a gRPC server never sends unasked
    assert took < 4, f"a transport mismatch took {took:.2f} s to be told (the connect timeout is 10 s)"
    argv = [sys.executable, "-m", "daffi_codegen", "--host", "127.0.0.1", "--port", str(port), "--list"]
    done = subprocess.run([*argv, "--transport", ours, "--timeout", "10"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done
    assert f"speaks transport={theirs!r} but daffi-codegen uses transport={ours!r}" in done.stderr, done.stderr


def test_auto_is_socket_on_unix_and_grpc_on_tcp(procs: Procs, short_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAFFI_TRANSPORT", raising=False)
    unix = Where(unix_sock_path=str(Path(short_dir) / "c.sock"))
    tcp = Where(host="127.0.0.1", port=free_port())
    assert "[transport=socket]" in procs.controller(unix).wait_line("ready on")
    assert "[transport=grpc]" in procs.controller(tcp).wait_line("ready on")
    for where in (unix, tcp):
        procs.service(where, "svc")
        with Global(process_name="caller", **where.kwargs) as g:
            assert g.call.add(1, 2) & FG == 3


def test_grpc_on_a_unix_socket_when_asked(procs: Procs, short_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAFFI_TRANSPORT", "grpc")  # the environment decides for every side
    where = Where(unix_sock_path=str(Path(short_dir) / "c.sock"))
    assert "[transport=grpc]" in procs.controller(where).wait_line("ready on")
    procs.service(where, "svc")
    with Global(process_name="caller", **where.kwargs) as g:
        assert g.call.add(2, 2) & FG == 4
    listing = subprocess.run(
        [sys.executable, "-m", "daffi_codegen", *where.argv, "--list"], capture_output=True, text=True, timeout=30
    )
    assert listing.returncode == 0 and "def add(a: int, b: int) -> int" in listing.stdout, listing.stderr
    # An explicit argument wins over the environment.
    with pytest.raises(InitializationError, match="speaks transport='grpc'"):
        Global(process_name="explicit", transport="socket", connect_timeout=5, unix_sock_path=where.unix_sock_path)


def test_a_bad_transport_name_says_what_is_allowed(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        InitializationError, match="transport must be one of 'auto', 'grpc', 'socket', 'nats', not 'carrier-pigeon'"
    ):
        Global(process_name="x", transport="carrier-pigeon", host="127.0.0.1", port=free_port())
    monkeypatch.setenv("DAFFI_TRANSPORT", "smoke")
    with pytest.raises(InitializationError, match=r"\$DAFFI_TRANSPORT must be one of .*'smoke'"):
        Global(process_name="x", host="127.0.0.1", port=free_port())
    monkeypatch.delenv("DAFFI_TRANSPORT")
    refused = procs.python("-m", "daffi_controller", "--port", str(free_port()), "--transport", "smoke")
    assert refused.wait(30) == 2
    assert "--transport" in refused.output and "'smoke'" in refused.output, refused.output


@pytest.mark.parametrize(
    ("theirs", "ours"), [("grpc", "socket"), ("socket", "grpc"), ("grpc", "nats"), ("socket", "nats")]
)
def test_a_mismatch_over_tls_names_both_transports(procs: Procs, tmp_path: Path, theirs: str, ours: str) -> None:
    authority = Authority(tmp_path)
    server = authority.issue("controller", server=True)
    where = Where(host="127.0.0.1", port=free_port(), transport=theirs)
    procs.controller(where, "--ssl-certificate", server.certificate, "--ssl-key", server.key)
    started = time.monotonic()
    with pytest.raises(InitializationError) as info:
        Global(
            process_name="x", transport=ours, ssl_ca=authority.ca, connect_timeout=10, host=where.host, port=where.port
        )
    assert f"speaks transport={theirs!r}" in str(info.value) and f"uses transport={ours!r}" in str(info.value)
    # nats-py first waits up to 2 s for a NATS server's greeting, which a TLS controller never sends
    assert time.monotonic() - started < (4.5 if ours == "nats" else 2.5), "a transport mismatch must be told at connect"
