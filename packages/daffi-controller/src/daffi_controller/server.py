"""The controller's lifecycle: bind, serve on one transport, stop, and clean up the socket file."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from typing import TYPE_CHECKING, Protocol

from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.keepalive import DEFAULT_KEEPALIVE
from daffi_core.security import ServerTLS
from daffi_core.transport import GRPC, SOCKET

if TYPE_CHECKING:
    from daffi_core.metrics import MetricsServer

from daffi_controller.config import ServerConfig
from daffi_controller.socket_service import SocketFront
from daffi_controller.switchboard import Switchboard

__all__ = ["ControllerServer"]

log = logging.getLogger("daffi.controller")


class ControllerServer:
    """A controller bound to one address, run on the current asyncio loop, over one transport.

    ``transport`` is ``"grpc"`` or ``"socket"`` (resolved: see ``daffi_core.transport``).
    ``keepalive``: seconds between the pings it sends each node; a node that does not answer within
    half of that is dropped (its pending calls fail). Pings from nodes are answered at any
    keepalive a node may use.
    """

    def __init__(
        self,
        address: Address,
        token: str | None = None,
        tls: ServerTLS | None = None,
        hello_timeout: float = 10.0,
        keepalive: float = DEFAULT_KEEPALIVE,
        transport: str = GRPC,
        metrics: tuple[str, int] | None = None,
    ) -> None:
        if tls is not None and address.unix_path is not None:
            raise InitializationError("TLS applies to TCP; a UNIX socket is protected by its file permissions")
        if transport not in (GRPC, SOCKET):
            raise InitializationError(f"the controller's transport must be 'grpc' or 'socket', not {transport!r}")
        self.config = ServerConfig(address, token, tls, hello_timeout, keepalive, transport)
        self.address = address
        self.transport = transport
        self.board = Switchboard(transport)
        self._front: _Front | None = None
        self.port: int | None = address.port
        #: ``(host, port)`` of the ``/metrics`` endpoint (port 0: a free one, then in ``metrics_port``).
        self._metrics_at = metrics
        self._metrics: MetricsServer | None = None
        self.metrics_port: int | None = None

    async def start(self) -> None:
        """Bind and start serving; raises InitializationError when the address is unusable."""
        if self.address.unix_path is not None:
            _claim_unix_path(self.address)
        if self.transport == SOCKET:
            front: _Front = SocketFront(self.config, self.board)
        else:
            from daffi_controller.grpc_service import GrpcFront  # grpc is imported only by gRPC controllers

            front = GrpcFront(self.config, self.board)
        self.port = await front.start()
        if self.address.unix_path is not None:
            os.chmod(self.address.unix_path, 0o600)
        self._front = front
        if self._metrics_at is not None:
            from daffi_controller.metrics import metrics_server  # prometheus-client only when asked for

            metrics = metrics_server(self.board)
            try:
                self.metrics_port = metrics.start(*self._metrics_at)
            except BaseException:
                await self.stop(0)
                raise
            self._metrics = metrics

    async def stop(self, grace: float = 1.0) -> None:
        """Stop serving (in-flight streams get ``grace`` seconds) and remove the socket file."""
        front, self._front = self._front, None
        metrics, self._metrics = self._metrics, None
        if metrics is not None:
            metrics.close()
        if front is not None:
            self.board.close()
            await front.stop(grace)
        if self.address.unix_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address.unix_path)

    def describe(self) -> str:
        if self.address.unix_path is not None:
            where = f"unix:{self.address.unix_path}"
        else:
            where = f"{self.address.host}:{self.port}" + (" (TLS)" if self.config.tls is not None else "")
        described = f"{where} [transport={self.transport}]" + (", token required" if self.config.token else "")
        if self._metrics_at is not None and self.metrics_port is not None:
            described += f", metrics on http://{self._metrics_at[0]}:{self.metrics_port}/metrics"
        return described


class _Front(Protocol):
    """A transport's server in front of the switchboard."""

    async def start(self) -> int | None:
        """Listen; the TCP port listened on (None on a UNIX socket)."""

    async def stop(self, grace: float) -> None:
        """End every connection and stop listening."""


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
