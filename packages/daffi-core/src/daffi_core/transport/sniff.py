"""Which transport answers at an address: asked once when a connect fails, to name both sides.

A client that cannot connect asks what listens there, so that its error names both transports
at once instead of waiting out ``connect_timeout`` (the contract's "mismatched sides fail at
connect with an error naming both transports"):

- a NATS server greets every connection with ``INFO {...}``, before any TLS;
- a socket-transport controller greets with its magic bytes (after TLS when it serves TLS:
  ``socket.client.probe``);
- a gRPC server answers the HTTP/2 preface with a SETTINGS frame; over TLS it agrees on ALPN ``h2``.
"""

from __future__ import annotations

import contextlib
import socket
import time

from daffi_core.address import Address
from daffi_core.errors import TransportError
from daffi_core.security import ClientSecurity
from daffi_core.transport import GRPC, NATS, SOCKET, Transport
from daffi_core.transport.socket.client import dial, probe
from daffi_core.transport.socket.wire import MAGIC, identify, speaks_nats

__all__ = ["speaker"]

#: An HTTP/2 client preface and an empty SETTINGS frame: what a gRPC server answers.
_HTTP2_HELLO = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
#: Seconds a server gets to greet unasked before it is asked (NATS and socket servers greet at once).
_GREETING_WAIT = 0.3


def speaker(address: Address, security: ClientSecurity | None = None, timeout: float = 1.0) -> Transport | None:
    """The transport of the server at ``address`` (``"grpc"``, ``"socket"`` or ``"nats"``), or None
    when nothing answers there within ``timeout`` seconds or it speaks none of them."""
    deadline = time.monotonic() + timeout
    greeting = _first_bytes(address, b"", min(_GREETING_WAIT, timeout))
    if speaks_nats(greeting):
        return NATS
    if greeting.startswith(MAGIC):
        return SOCKET
    tls = security is not None and security.tls is not None
    if tls and probe(address, security, max(0.1, deadline - time.monotonic())):
        return SOCKET
    if tls:
        return GRPC if _agrees_on_h2(address, security, max(0.1, deadline - time.monotonic())) else None
    answer = _first_bytes(address, _HTTP2_HELLO, max(0.1, deadline - time.monotonic()))
    return GRPC if identify(answer) == "a gRPC (HTTP/2) server" else None


def _open(address: Address, timeout: float) -> socket.socket:
    sock = dial(address, time.monotonic() + timeout)
    sock.settimeout(timeout)  # blocking again, each read bounded
    return sock


def _first_bytes(address: Address, send: bytes, timeout: float) -> bytes:
    """What the server sends first (after ``send``), within ``timeout`` s; b"" for nothing."""
    try:
        with _open(address, timeout) as sock:
            if send:
                sock.sendall(send)
            return sock.recv(64)
    except (OSError, TransportError):  # nobody listens, nothing came in time, or a reset
        return b""


def _agrees_on_h2(address: Address, security: ClientSecurity | None, timeout: float) -> bool:
    assert security is not None and security.tls is not None
    context = security.tls.ssl_context()
    context.set_alpn_protocols(["h2"])
    with contextlib.suppress(OSError, TransportError), _open(address, timeout) as raw:
        host = address.host if address.unix_path is None else None
        with context.wrap_socket(raw, server_hostname=host) as tls:
            return tls.selected_alpn_protocol() == "h2"
    return False
