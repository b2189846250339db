"""The controller's lifecycle: bind, serve, stop, and clean up the socket file."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat

import grpc
from daffi_core.address import Address
from daffi_core.channel import DEFAULT_KEEPALIVE, server_options
from daffi_core.errors import InitializationError
from daffi_core.security import ServerTLS
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from daffi_controller.auth import TokenCheck
from daffi_controller.servicer import ControllerServicer, register

log = logging.getLogger("daffi.controller")


class ControllerServer:
    """A controller bound to one address, run on the current asyncio loop.

    ``keepalive``: seconds between the pings it sends each node; a node that does not answer within
    half of that is dropped (its pending calls fail). Pings from nodes are permitted at any
    keepalive a node may use.
    """

    def __init__(
        self,
        address: Address,
        token: str | None = None,
        tls: ServerTLS | None = None,
        hello_timeout: float = 10.0,
        keepalive: float = DEFAULT_KEEPALIVE,
    ) -> None:
        if tls is not None and address.unix_path is not None:
            raise InitializationError("TLS applies to TCP; a UNIX socket is protected by its file permissions")
        self.address = address
        self._token = token
        self._tls = tls
        self.keepalive = keepalive
        self.servicer = ControllerServicer(hello_timeout)
        self._server: grpc.aio.Server | None = None
        self.port: int | None = address.port

    async def start(self) -> None:
        """Bind and start serving; raises InitializationError when the address is unusable."""
        if self.address.unix_path is not None:
            _claim_unix_path(self.address)
        else:
            _probe_tcp(self.address)
        interceptors = [TokenCheck(self._token)] if self._token else []
        server = grpc.aio.server(options=server_options(self.keepalive), interceptors=interceptors)
        register(self.servicer, server)
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        try:
            if self._tls is not None:
                port = server.add_secure_port(self.address.target, self._tls.credentials())
            else:
                port = server.add_insecure_port(self.address.target)
        except RuntimeError as exc:
            raise InitializationError(f"cannot listen on {self.address}: {_bind_reason(self.address)}") from exc
        if port == 0 and self.address.unix_path is None:
            raise InitializationError(f"cannot listen on {self.address}: {_bind_reason(self.address)}")
        if self.address.unix_path is None:
            self.port = port
        await server.start()
        for service in ("", "daffi.v1.Controller"):
            await health.set(service, health_pb2.HealthCheckResponse.SERVING)
        if self.address.unix_path is not None:
            os.chmod(self.address.unix_path, 0o600)
        self._server = server

    async def stop(self, grace: float = 1.0) -> None:
        """Stop serving (in-flight streams get ``grace`` seconds) and remove the socket file."""
        server, self._server = self._server, None
        if server is not None:
            self.servicer.close()
            await server.stop(grace)
        if self.address.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address.unix_path)

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    def describe(self) -> str:
        if self.address.unix_path is not None:
            where = f"unix:{self.address.unix_path}"
        else:
            where = f"{self.address.host}:{self.port}" + (" (TLS)" if self._tls is not None else "")
        return where + (", token required" if self._token else "")


def _claim_unix_path(address: Address) -> None:
    """Refuse a live socket, replace a stale one, create a missing directory owner-only."""
    path = address.unix_path
    assert path is not None
    try:
        address.prepare_unix_dir()
    except OSError as exc:
        raise InitializationError(f"cannot create the socket directory {path.parent}: {exc.strerror}") from exc
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InitializationError(f"cannot use socket path {path}: {exc.strerror}") from exc
    if not stat.S_ISSOCK(mode):
        raise InitializationError(f"cannot use socket path {path}: it exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        os.unlink(path)  # nobody listens: a stale file from a controller that died
        return
    finally:
        probe.close()
    raise InitializationError(f"cannot listen on {path}: another controller is already listening there")


def _probe_tcp(address: Address) -> None:
    """Fail early, with the system's reason, when the port cannot be bound."""
    assert address.host is not None and address.port is not None
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InitializationError(f"cannot listen on {address}: host {address.host!r} does not resolve") from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno == 99:  # EADDRNOTAVAIL: no IPv6 loopback here
                    continue
                raise InitializationError(f"cannot listen on {address}: {exc.strerror}") from exc


def _bind_reason(address: Address) -> str:
    if address.unix_path is not None:
        return "the path is not usable (check the directory and its permissions)"
    return "the port is already in use or the host is not an address of this machine"


__all__ = ["ControllerServer"]
