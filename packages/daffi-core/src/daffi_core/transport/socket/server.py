"""The server side of the socket transport, on asyncio (uvloop where the controller installs it).

``listen`` binds the address and makes a ``ServerConnection`` per accepted connection. The
connection sends the greeting at once, then expects the client's greeting and ``Open`` within
``open_timeout``, checks the token (constant time; never logged), answers PINGs, pings the client
every ``keepalive`` seconds and drops it when a ping goes unanswered for half of that, and
refuses hostile bytes (another protocol, unknown frame kinds, oversized lengths) by closing that
connection only. What the connection is for is the application's: ``Service.open`` gets the
method and returns the ``Session`` that receives its DATA frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Protocol, cast

from daffi_core.address import Address
from daffi_core.errors import InitializationError, ProtocolViolation
from daffi_core.framing import Buffer
from daffi_core.keepalive import DEFAULT_KEEPALIVE, keepalive_timeout
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import HEALTH_METHOD, QUEUE_HIGH_BYTES, QUEUE_LOW_BYTES
from daffi_core.security import TOKEN_REFUSAL
from daffi_core.transport import Code
from daffi_core.transport.socket.wire import MAGIC, PING_FRAME, PONG_FRAME, Body, FrameReader, Kind, frame, header

__all__ = ["OPEN_METHODS", "ServerConnection", "Service", "Session", "bind", "serve"]

#: Methods open to anyone (like gRPC's health service on a gRPC controller).
OPEN_METHODS = frozenset({HEALTH_METHOD})
#: Seconds a closing connection waits for the client to hang up.
_LINGER = 2.0
#: Connections the kernel holds before they are accepted (asyncio would set 100 again; a burst of
#: clients on a UNIX socket gets EAGAIN, not a retry, once it is full).
BACKLOG = 1024
#: Where the bytes a closing connection still receives go (shared: they are never read).
_DISCARD = memoryview(bytearray(4096))


class Session(Protocol):
    """What the application makes of one opened connection."""

    def received(self, body: Body) -> None:
        """A DATA frame arrived."""

    def lost(self, reason: str) -> None:
        """The connection ended (``reason`` says why); nothing more arrives."""


class Service(Protocol):
    """The application behind a socket-transport server."""

    def open(self, conn: ServerConnection, method: str) -> Session | None:
        """The session for a connection opened for ``method``; None refuses it as unknown."""

    def read_done(self) -> None:
        """The frames of one read were handled: a moment to write, at once, what they produced."""


class ServerConnection(asyncio.BufferedProtocol):
    """One accepted connection: greeting, ``Open``, token, keepalive, frames to and from the session."""

    def __init__(
        self,
        service: Service,
        token: str | None = None,
        keepalive: float = DEFAULT_KEEPALIVE,
        open_timeout: float = 10.0,
        log: logging.Logger | None = None,
    ) -> None:
        self._service = service
        self._token = token.encode() if token else None
        self._keepalive = keepalive
        self._open_timeout = open_timeout
        self._log = log or logging.getLogger("daffi.transport")
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self._session: Session | None = None
        self._method = ""
        self._timers: list[asyncio.TimerHandle] = []
        self._ping_sent = 0.0
        self._last_received = 0.0
        self._lost_reason = "disconnected"
        self._closing = False
        self._paused = False
        self._peer_done = False  # the client ended its side: nothing of ours can reset its reading
        self._drained = asyncio.Event()
        self._drained.set()
        #: Who is on the other end, for log lines.
        self.peer = "?"

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses
        self._transport = transport
        transport.set_write_buffer_limits(high=QUEUE_HIGH_BYTES, low=QUEUE_LOW_BYTES)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a UNIX socket client"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(MAGIC)
        loop = asyncio.get_running_loop()
        self._last_received = loop.time()
        self._timers.append(loop.call_later(self._open_timeout, self._open_expired))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._closing:
            return _DISCARD  # what still arrives is dropped: no need for a buffer of our own
        return self._reader.buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self._transport is None or self._closing:
            return  # closing: what still arrives is read and dropped, so the CLOSE frame is not reset away
        try:
            frames = self._reader.feed(nbytes)
        except ProtocolViolation as exc:
            hint = " (a transport mismatch: this controller speaks transport='socket')" if "gRPC" in str(exc) else ""
            self._refuse(Code(exc.code), str(exc), warn=f"{self.peer}: {exc}{hint}")
            return
        if not frames:
            return
        self._last_received = asyncio.get_running_loop().time()
        try:
            self._dispatch(frames)
        finally:
            self._service.read_done()

    def _dispatch(self, frames: list[tuple[Kind, Body]]) -> None:
        transport = self._transport
        assert transport is not None
        for kind, body in frames:
            if self._closing:
                return
            if kind == Kind.DATA:
                if self._session is None:
                    self._refuse(
                        Code.INVALID_ARGUMENT, "the first frame must be Open", warn=f"{self.peer}: DATA before Open"
                    )
                    return
                self._session.received(body)
            elif kind == Kind.PING:
                transport.write(PONG_FRAME)
            elif kind == Kind.OPEN:
                self._opened(body)
            elif kind == Kind.CLOSE:
                self._peer_ended()
                return

    def eof_received(self) -> bool:
        self._peer_done = True
        if self._closing:
            return False  # we were lingering for this: close now
        self._peer_ended()
        return True  # keep writing: the session's last frames and the CLOSE still go out

    def _peer_ended(self) -> None:
        """The client said it is done (CLOSE or end of stream): the session ends first, so what it
        still answers is written, then the connection closes with OK."""
        if self._closing:
            return
        session, self._session = self._session, None
        if session is not None:
            session.lost("disconnected")
        self.close(Code.OK)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._closing = True
        self._drained.set()
        if exc is not None and self._lost_reason == "disconnected":
            self._lost_reason = f"connection lost ({exc})"
        session, self._session = self._session, None
        if session is not None:
            session.lost(self._lost_reason)

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    # -- opening
    def _opened(self, body: Body) -> None:
        if self._session is not None or self._method:
            self._refuse(Code.INVALID_ARGUMENT, "a second Open frame", warn=f"{self.peer}: a second Open frame")
            return
        try:
            request = pb.Open.FromString(bytes(body))
        except Exception:
            self._refuse(Code.INVALID_ARGUMENT, "the Open frame does not parse", warn=f"{self.peer}: a bad Open frame")
            return
        self._method = request.method or "?"
        name = self._method.rsplit("/", 1)[-1]
        if self._token is not None and request.method not in OPEN_METHODS:
            given = request.token.encode()
            if not hmac.compare_digest(given, self._token):
                self._log.warning("refused a %s call: %s", name, "missing token" if not given else "wrong token")
                self._refuse(Code.UNAUTHENTICATED, TOKEN_REFUSAL)
                return
        session = self._service.open(self, request.method)
        if session is None:
            self._refuse(Code.UNIMPLEMENTED, f"unknown method {request.method!r}", warn=f"{self.peer}: {name}?")
            return
        self._session = session
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._keepalive:
            self._timers.append(asyncio.get_running_loop().call_later(self._keepalive, self._ping))

    def _open_expired(self) -> None:
        if self._session is None and not self._closing:
            what = "greeting" if not self._reader.greeted else "Open frame"
            self._refuse(
                Code.DEADLINE_EXCEEDED,
                f"no {what} within {self._open_timeout:g} s",
                warn=f"{self.peer}: no {what} within {self._open_timeout:g} s",
            )

    # -- keepalive
    def _ping(self) -> None:
        if self._closing or self._transport is None:
            return
        loop = asyncio.get_running_loop()
        self._ping_sent = loop.time()
        self._transport.write(PING_FRAME)
        self._timers = [
            loop.call_later(keepalive_timeout(self._keepalive), self._check_pong),
            loop.call_later(self._keepalive, self._ping),
        ]

    def _check_pong(self) -> None:
        if self._closing or self._transport is None or self._last_received >= self._ping_sent:
            return
        if self._paused:
            return  # its bytes wait unread because we hold it back: silence is ours, not its
        self._lost_reason = f"keepalive timeout (no answer to a ping within {keepalive_timeout(self._keepalive):g} s)"
        self._transport.abort()

    # -- for the session
    @property
    def method(self) -> str:
        return self._method

    def send(self, parts: Sequence[Buffer]) -> None:
        """Write framed bytes."""
        if self._transport is not None and not self._closing:
            self._transport.write(b"".join(parts))

    def send_data(self, parts: Sequence[Buffer]) -> None:
        """One DATA frame whose body is ``parts`` joined."""
        self.send([header(Kind.DATA, sum(len(p) for p in parts)), *parts])

    def close(self, code: int = Code.OK, message: str = "") -> None:
        """End the connection with a CLOSE frame after what is queued."""
        if self._transport is None or self._closing:
            return
        self._closing = True
        transport = self._transport
        if self._paused:  # held back for flow control: read (and drop) again, or its end goes unseen
            self._paused = False
            transport.resume_reading()
        transport.write(frame(Kind.CLOSE, pb.Status(code=code, message=message).SerializeToString()))
        if transport.can_write_eof() and not self._peer_done:
            # Half-close and let the client hang up: closing with its bytes unread would reset the
            # connection, and the client might lose the CLOSE frame that says why.
            transport.write_eof()
            self._timers.append(asyncio.get_running_loop().call_later(_LINGER, transport.close))
        else:
            transport.close()

    def _refuse(self, code: Code, message: str, warn: str = "") -> None:
        if warn:
            self._log.warning("dropped a connection: %s", warn)
        self._lost_reason = message
        session, self._session = self._session, None
        if session is not None:
            session.lost(message)  # now, not when the client hangs up: a refused node is gone at once
        self.close(code, message)

    @property
    def congested(self) -> bool:
        """More than ``QUEUE_HIGH_BYTES`` wait to be written."""
        return self._transport is not None and self._transport.get_write_buffer_size() > QUEUE_HIGH_BYTES

    async def drained(self) -> None:
        """Wait until at most ``QUEUE_LOW_BYTES`` wait to be written, or the connection ended."""
        await self._drained.wait()

    def pause_reading(self) -> None:
        if self._transport is not None and not self._closing:
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._closing:
            self._paused = False
            self._transport.resume_reading()

    @property
    def tls_peer(self) -> dict[str, object] | None:
        """The client's certificate (mutual TLS), if any."""
        if self._transport is None:
            return None
        cert = self._transport.get_extra_info("peercert")
        return cert if isinstance(cert, dict) else None


def bind(address: Address) -> list[socket.socket]:
    """Listening sockets for ``address``: exactly its host (never widened), no SO_REUSEPORT.

    Raises InitializationError with the system's reason when the address is unusable.
    """
    if address.unix_path is not None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(address.unix_path))
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise InitializationError(f"cannot listen on {address}: {exc.strerror}") from exc
        sock.setblocking(False)
        return [sock]
    assert address.host is not None and address.port is not None
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InitializationError(f"cannot listen on {address}: host {address.host!r} does not resolve") from exc
    socks: list[socket.socket] = []
    port = address.port
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, sockaddr in infos:
            if (family, sockaddr[0]) in seen:
                continue
            seen.add((family, sockaddr[0]))
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((sockaddr[0], port, *sockaddr[2:]))
            except OSError as exc:
                if family == socket.AF_INET6 and exc.errno == 99:  # EADDRNOTAVAIL: no IPv6 loopback here
                    socks.remove(sock)
                    sock.close()
                    continue
                raise InitializationError(f"cannot listen on {address}: {exc.strerror}") from exc
            port = sock.getsockname()[1]  # port 0: every family gets the port the first one got
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    if not socks:
        raise InitializationError(f"cannot listen on {address}: no usable address")
    return socks


async def serve(
    socks: list[socket.socket],
    factory: Callable[[], ServerConnection],
    tls: ssl.SSLContext | None = None,
    handshake_timeout: float = 10.0,
) -> list[asyncio.AbstractServer]:
    """Start accepting on ``socks``; every connection gets a protocol from ``factory``."""
    loop = asyncio.get_running_loop()
    servers: list[asyncio.AbstractServer] = []
    timeout = handshake_timeout if tls is not None else None
    for sock in socks:
        if sock.family == socket.AF_UNIX:
            servers.append(
                await loop.create_unix_server(
                    factory, sock=sock, ssl=tls, ssl_handshake_timeout=timeout, backlog=BACKLOG
                )
            )
        else:
            servers.append(
                await loop.create_server(factory, sock=sock, ssl=tls, ssl_handshake_timeout=timeout, backlog=BACKLOG)
            )
    return servers
