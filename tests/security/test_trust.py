"""Token authentication, TLS and mutual TLS, and a controller that never unpickles payloads."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daffi import FG, Global, InitializationError
from daffi_core.proto import daffi_pb2 as pb

from tests.support import raw
from tests.support.certs import Authority
from tests.support.procs import Procs, Where

TOKEN = "s3cr3t-token-value-1234567890"


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


@pytest.fixture
def guarded(procs: Procs, where: Where, token_file: str) -> Where:
    """A controller that requires TOKEN (debug logging on, to prove the token is never logged)."""
    procs.controller(where, "--token-file", token_file, "--log-level", "DEBUG")
    return where


def test_right_token_connects_and_calls(procs: Procs, guarded: Where) -> None:
    procs.service(guarded, "svc", env={"DAFFI_TOKEN": TOKEN})
    with Global(process_name="caller", token=TOKEN, **guarded.kwargs) as g:
        assert g.call.add(2, 3) & FG == 5


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_refused_at_once(
    guarded: Where, token: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAFFI_TOKEN", raising=False)
    started = time.monotonic()
    with pytest.raises(InitializationError, match="token"):
        Global(process_name="intruder", token=token, connect_timeout=10, **guarded.kwargs)
    assert time.monotonic() - started < 5, "a refused token must fail fast, not after the connect timeout"


def test_token_from_environment_and_never_logged(procs: Procs, where: Where, token_file: str) -> None:
    controller = procs.controller(where, "--log-level", "DEBUG", env={"DAFFI_TOKEN": TOKEN})
    procs.service(where, "svc", env={"DAFFI_TOKEN": TOKEN})
    with pytest.raises(InitializationError):
        Global(process_name="intruder", token="not-" + TOKEN, **where.kwargs)
    with Global(process_name="caller", token=TOKEN, **where.kwargs) as g:
        assert g.call.whoami() & FG == "svc"
    controller.wait_line("refused a Connect call: wrong token")
    assert TOKEN not in controller.output


def test_catalog_needs_the_token_but_health_does_not(procs: Procs, guarded: Where, token_file: str) -> None:
    procs.service(guarded, "svc", env={"DAFFI_TOKEN": TOKEN})
    codegen = [sys.executable, "-m", "daffi_codegen", *guarded.argv, "--list", "--timeout", "5"]
    env = {k: v for k, v in os.environ.items() if k != "DAFFI_TOKEN"}
    refused = subprocess.run(codegen, capture_output=True, text=True, timeout=30, env=env)
    assert refused.returncode == 2
    assert "refused" in refused.stderr and "token" in refused.stderr
    allowed = subprocess.run([*codegen, "--token-file", token_file], capture_output=True, text=True, timeout=30)
    assert allowed.returncode == 0, allowed.stderr
    assert "def add(a: int, b: int) -> int" in allowed.stdout

    assert raw.serving(guarded)


# -- TLS


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority(tmp_path)


@pytest.fixture
def tls_tcp(tcp: Where) -> Where:
    """TLS applies to TCP: each transport on TCP."""
    return tcp


def test_tls_node_trusting_the_ca_works_plaintext_node_does_not(
    procs: Procs, tls_tcp: Where, authority: Authority
) -> None:
    server = authority.issue("controller", server=True)
    procs.controller(tls_tcp, "--ssl-certificate", server.certificate, "--ssl-key", server.key)
    procs.service(tls_tcp, "svc", "service.py", "--ssl-ca", authority.ca)
    with Global(process_name="caller", ssl_ca=authority.ca, **tls_tcp.kwargs) as g:
        assert g.call.add(20, 22) & FG == 42
    with pytest.raises(InitializationError):
        Global(process_name="plain", connect_timeout=2, **tls_tcp.kwargs)


def test_mutual_tls_refuses_nodes_without_a_client_certificate(
    procs: Procs, tls_tcp: Where, authority: Authority
) -> None:
    server = authority.issue("controller", server=True)
    client = authority.issue("node", server=False)
    procs.controller(
        tls_tcp,
        "--ssl-certificate",
        server.certificate,
        "--ssl-key",
        server.key,
        "--ssl-ca",
        authority.ca,
        "--require-client-cert",
    )
    procs.service(
        tls_tcp,
        "svc",
        "service.py",
        "--ssl-ca",
        authority.ca,
        "--ssl-certificate",
        client.certificate,
        "--ssl-key",
        client.key,
    )
    with pytest.raises(InitializationError):
        Global(process_name="no-cert", ssl_ca=authority.ca, connect_timeout=2, **tls_tcp.kwargs)
    stranger = Authority(authority.folder, name="stranger CA")
    foreign = stranger.issue("foreign-node", server=False)
    with pytest.raises(InitializationError):
        Global(
            process_name="foreign",
            ssl_ca=authority.ca,
            ssl_certificate=foreign.certificate,
            ssl_key=foreign.key,
            connect_timeout=2,
            **tls_tcp.kwargs,
        )
    with Global(
        process_name="caller",
        ssl_ca=authority.ca,
        ssl_certificate=client.certificate,
        ssl_key=client.key,
        **tls_tcp.kwargs,
    ) as g:
        assert g.call.whoami() & FG == "svc"


def test_hosting_process_node_trusts_its_own_certificate(procs: Procs, tls_tcp: Where, authority: Authority) -> None:
    server = authority.issue("hosted", server=True)
    with Global(
        process_name="host",
        init_controller=True,
        ssl_certificate=server.certificate,
        ssl_key=server.key,
        **tls_tcp.kwargs,
    ) as g:
        procs.service(tls_tcp, "svc", "service.py", "--ssl-ca", authority.ca)
        assert g.call.add(1, 2) & FG == 3


def test_tls_on_a_unix_socket_is_refused(tmp_path: Path, authority: Authority) -> None:
    server = authority.issue("controller", server=True)
    with pytest.raises(InitializationError, match="TLS applies to TCP"):
        Global(
            init_controller=True,
            unix_sock_path=str(tmp_path / "s.sock"),
            ssl_certificate=server.certificate,
            ssl_key=server.key,
        )


# -- the controller treats payloads as opaque bytes


class _Bomb:
    """Unpickling this creates ``path``: proof that someone deserialized the payload."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (Path(self.path), "unpickled"))  # type: ignore[return-value]


def test_controller_forwards_a_hostile_payload_without_unpickling_it(
    procs: Procs, where: Where, tmp_path: Path
) -> None:
    procs.controller(where)
    marker = tmp_path / "unpickled.txt"
    payload = pickle.dumps(_Bomb(str(marker)))
    call = pb.Message(
        kind=pb.Message.CALL,
        call_id=1,
        payload=payload,
        encoding=pb.PICKLE,
        head=pb.CallHead(name="sink", return_result=True),
    )
    with raw.joined(where, "b", ["sink"]) as b, raw.joined(where, "a") as a:
        a.send(pb.Batch(frames=[pb.Frame(message=call)]))
        forwarded = bytes(b.messages(1)[0].payload)
    assert forwarded == payload  # the very bytes, passed through
    assert not marker.exists()
