"""The client side of the socket transport: one blocking connection that any thread may use.

``open_connection`` connects (TCP or UNIX socket), speaks TLS when asked, exchanges greetings and
sends ``Open``. Then any thread may ``send`` (frames stay whole: one writer at a time) and one
thread at a time ``receive``s; ``receive(wakeable=True)`` can be interrupted with ``wake()``, so
that a thread waiting for its own reply can take reading over from a background reader. TLS
runs in memory (``ssl.MemoryBIO``) under a lock, so reading and writing threads never use one
OpenSSL object at the same time.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Sequence
from typing import cast

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, ProtocolViolation, TransportError
from daffi_core.framing import Buffer
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.security import TOKEN_REFUSAL, ClientSecurity
from daffi_core.transport import NATS, SOCKET, Code, mismatch
from daffi_core.transport.socket.wire import (
    MAGIC,
    PING_FRAME,
    PONG_FRAME,
    Body,
    FrameReader,
    Kind,
    frame,
    header,
    identify,
    speaks_grpc,
    speaks_nats,
)

__all__ = ["Connection", "dial", "open_connection", "probe"]

#: Codes of a CLOSE that retrying cannot cure.
_FATAL = frozenset({Code.UNAUTHENTICATED, Code.FAILED_PRECONDITION, Code.UNIMPLEMENTED})
_IOV_MAX = 512
_RECV_SIZE = 256 * 1024
_POLL_IN = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR


def dial(address: Address, deadline: float) -> socket.socket:
    """A non-blocking socket connected to ``address`` (TCP without Nagle, or UNIX); TransportError
    when that fails or takes past ``deadline`` (``time.monotonic()``)."""
    timeout = max(0.05, deadline - time.monotonic())
    try:
        if address.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(str(address.unix_path))
            except BaseException:
                sock.close()
                raise
        else:
            assert address.host is not None and address.port is not None
            sock = socket.create_connection((address.host, address.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except TimeoutError:
        raise TransportError(f"no answer from {address} within {timeout:.1f} s", Code.UNAVAILABLE) from None
    except OSError as exc:
        raise TransportError(f"cannot connect to {address}: {exc.strerror or exc}", Code.UNAVAILABLE) from None
    sock.setblocking(False)
    return sock


def _wait(sock: socket.socket, events: int, deadline: float | None) -> bool:
    poller = select.poll()
    poller.register(sock, events)
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
    return bool(poller.poll(timeout))


def _recv_some(sock: socket.socket, deadline: float, address: Address) -> bytes:
    while True:
        try:
            data = sock.recv(_RECV_SIZE)
        except BlockingIOError:
            if not _wait(sock, _POLL_IN, deadline):
                raise TransportError(f"the controller at {address} did not answer in time", Code.UNAVAILABLE) from None
            continue
        except OSError as exc:
            raise TransportError(f"connection to {address} failed: {exc.strerror or exc}") from None
        return data


class _Tls:
    """TLS over a non-blocking socket, in memory: every use of the OpenSSL object holds ``lock``."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str | None) -> None:
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=False, server_hostname=server_hostname)
        self.lock = threading.Lock()

    def handshake(self, sock: socket.socket, deadline: float, address: Address) -> None:
        raw = b""
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                _sendall(sock, [self.outgoing.read()])
                data = _recv_some(sock, deadline, address)
                if not data:
                    raise _tls_refusal(
                        address, raw, "the controller closed the connection during the TLS handshake"
                    ) from None
                raw += data
                self.incoming.write(data)
            except ssl.SSLError as exc:
                raise _tls_refusal(address, raw, exc.reason or str(exc)) from None
        _sendall(sock, [self.outgoing.read()])

    def encrypt(self, parts: Sequence[Buffer]) -> bytes:
        with self.lock:
            for part in parts:
                self.obj.write(part)
            return self.outgoing.read()

    def decrypt(self, data: bytes, reader: FrameReader) -> tuple[list[tuple[Kind, Body]], bytes, bool]:
        """(frames, bytes to send back, whether the peer closed TLS)."""
        frames: list[tuple[Kind, Body]] = []
        closed = False
        with self.lock:
            self.incoming.write(data)
            while True:
                target = reader.buffer()
                try:
                    count = cast(int, self.obj.read(len(target), target))  # with a buffer: a count
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLZeroReturnError:
                    closed = True
                    break
                except ssl.SSLError as exc:
                    raise TransportError(f"TLS failed: {exc.reason or exc}") from None
                if not count:
                    closed = True
                    break
                frames += reader.feed(count)
            back = self.outgoing.read()
        return frames, back, closed


def _tls_refusal(address: Address, raw: bytes, reason: str) -> ConnectionRefused:
    if raw.startswith(MAGIC[: len(raw)]) and raw:
        why = "it serves the socket transport without TLS (drop the ssl options, or start it with --ssl-certificate)"
    elif speaks_grpc(raw):
        why = "it speaks gRPC without TLS"
    elif speaks_nats(raw):
        return ConnectionRefused(mismatch(address, SOCKET, NATS), Code.FAILED_PRECONDITION)
    else:
        why = reason
    return ConnectionRefused(f"TLS with the controller at {address} failed: {why}", Code.UNAVAILABLE)


#: Writes of at most this many parts and bytes are joined and sent in one ``send``.
_JOIN_PARTS = 16
_JOIN_BYTES = 64 * 1024


def _sendall(sock: socket.socket, parts: Sequence[Buffer]) -> None:
    """Write every byte of ``parts`` to the non-blocking ``sock`` (waiting while its buffer is full)."""
    if len(parts) <= _JOIN_PARTS:
        # Small writes (a call, a reply): one joined buffer, one send, usually all of it.
        data = b"".join(parts)
        if len(data) <= _JOIN_BYTES:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent == len(data):
                return
            parts = [memoryview(data)[sent:]]
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        try:
            sent = sock.sendmsg(views[:_IOV_MAX])
        except (BlockingIOError, InterruptedError):
            _wait(sock, select.POLLOUT, None)
            continue
        while sent and views:
            first = views[0]
            if sent >= len(first):
                sent -= len(first)
                views.pop(0)
            else:
                views[0] = first[sent:]
                sent = 0


def _release(sock: socket.socket, *fds: int) -> None:
    sock.close()
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class Connection:
    """An open socket-transport connection (after greetings and ``Open``)."""

    def __init__(self, sock: socket.socket, address: Address, tls: _Tls | None, reader: FrameReader) -> None:
        self.address = address
        self._sock = sock
        self._tls = tls
        self._reader = reader
        self._pending: list[tuple[Kind, Body]] = []
        self._write_lock = threading.Lock()
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._poll = select.poll()
        self._poll.register(sock, _POLL_IN)
        self._poll_wakeable = select.poll()
        self._poll_wakeable.register(sock, _POLL_IN)
        self._poll_wakeable.register(self._wake_r, select.POLLIN)
        # The descriptors go with the last reference: only then can no thread still poll them.
        self._release = weakref.finalize(self, _release, sock, self._wake_r, self._wake_w)
        #: ``time.monotonic()`` when bytes last arrived (keepalive).
        self.last_received = time.monotonic()

    # -- writing (any thread)
    def send(self, parts: Sequence[Buffer]) -> None:
        """Write already framed bytes; frames of concurrent senders never interleave."""
        with self._write_lock:
            if self._closed:
                raise TransportError(f"the connection to {self.address} is closed")
            try:
                if self._tls is not None:
                    _sendall(self._sock, [self._tls.encrypt(parts)])
                else:
                    _sendall(self._sock, parts)
            except OSError as exc:
                raise TransportError(f"connection to {self.address} failed: {exc.strerror or exc}") from None

    def _pong(self) -> None:
        """Answer a PING unless a writer is blocked: a reader must never wait for the write side (its
        peer may be waiting for it to read), and a blocked writer means the peer hears from us anyway."""
        if not self._write_lock.acquire(blocking=False):
            return
        try:
            if self._tls is not None:
                _sendall(self._sock, [self._tls.encrypt([PONG_FRAME])])
                return
            try:
                sent = self._sock.send(PONG_FRAME)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the reader notices a broken connection itself
            if sent < len(PONG_FRAME):
                _sendall(self._sock, [memoryview(PONG_FRAME)[sent:]])
        finally:
            self._write_lock.release()

    def send_data(self, parts: Sequence[Buffer]) -> None:
        """One DATA frame whose body is ``parts`` joined."""
        self.send([header(Kind.DATA, sum(len(p) for p in parts)), *parts])

    def ping(self) -> float:
        """Send a keepalive PING; returns when (monotonic)."""
        now = time.monotonic()
        self.send([PING_FRAME])
        return now

    def heard_since(self, moment: float) -> bool:
        return self.last_received >= moment

    # -- reading (one thread at a time)
    def receive(self, timeout: float | None, wakeable: bool = False) -> list[tuple[Kind, Body]]:
        """The DATA frames that arrive within ``timeout`` seconds ([] on timeout or ``wake()``).

        PINGs are answered here; a CLOSE, the end of the stream or bytes that are not the protocol
        raise TransportError (ConnectionRefused when retrying will not help).
        """
        if self._pending:
            frames, self._pending = self._pending, []
            return self._filter(frames)
        poller = self._poll_wakeable if wakeable else self._poll
        events = poller.poll(None if timeout is None else max(0.0, timeout) * 1000)
        if not events:
            return []
        if wakeable and any(fd == self._wake_r for fd, _ in events):
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
            if len(events) == 1:
                return []
        return self._read()

    def _read(self) -> list[tuple[Kind, Body]]:
        if self._closed:
            raise TransportError(f"the connection to {self.address} is closed")
        try:
            if self._tls is None:
                count = self._sock.recv_into(self._reader.buffer())
                if not count:
                    raise TransportError(f"the controller at {self.address} closed the connection")
                frames = self._reader.feed(count)
            else:
                data = self._sock.recv(_RECV_SIZE)
                if not data:
                    raise TransportError(f"the controller at {self.address} closed the connection")
                frames, back, closed = self._tls.decrypt(data, self._reader)
                if back:
                    with self._write_lock:
                        _sendall(self._sock, [back])
                if closed and not frames:
                    raise TransportError(f"the controller at {self.address} closed the connection")
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as exc:
            raise TransportError(f"connection to {self.address} failed: {exc.strerror or exc}") from None
        self.last_received = time.monotonic()
        return self._filter(frames)

    def keep(self, frames: list[tuple[Kind, Body]]) -> None:
        """Frames that arrived with the greeting: the next ``receive`` returns them."""
        self._pending = frames + self._pending

    def _filter(self, frames: list[tuple[Kind, Body]]) -> list[tuple[Kind, Body]]:
        data: list[tuple[Kind, Body]] = []
        for index, (kind, body) in enumerate(frames):
            if kind == Kind.DATA:
                data.append((kind, body))
            elif kind == Kind.PING:
                self._pong()
            elif kind == Kind.CLOSE:
                status = pb.Status.FromString(bytes(body))
                if data:  # what came before the CLOSE is delivered first
                    self._pending = frames[index:] + self._pending
                    break
                raise _closed_error(self.address, status)
            elif kind == Kind.OPEN:
                raise ProtocolViolation("the controller sent an Open frame")
        return data

    def receive_one(self, timeout: float) -> Body:
        """The next DATA frame's body (for request-response methods); TransportError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"the controller at {self.address} did not answer in time", Code.DEADLINE_EXCEEDED)
            frames = self.receive(remaining)
            if frames:
                if len(frames) > 1:
                    self._pending = list(frames[1:]) + self._pending
                return frames[0][1]

    # -- ending
    def wake(self) -> None:
        """Interrupt a ``receive(wakeable=True)`` in another thread."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    def close(self, code: int | None = None, message: str = "") -> None:
        """End the connection (with a CLOSE frame when ``code`` is given); readers get TransportError."""
        if self._closed:
            return
        if code is not None:
            with contextlib.suppress(TransportError, OSError):
                self.send([frame(Kind.CLOSE, pb.Status(code=code, message=message).SerializeToString())])
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self.wake()

    def dispose(self) -> None:
        """Release the file descriptors now (once no thread uses the connection any more); else they
        are released when the connection is no longer referenced."""
        self.close()
        with self._write_lock:
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed


def _closed_error(address: Address, status: pb.Status) -> TransportError:
    code = Code(status.code) if status.code in Code._value2member_map_ else Code.UNKNOWN
    text = f"the controller at {address} ended the connection: {status.message or code.name}"
    if code == Code.UNAUTHENTICATED:
        return ConnectionRefused(f"the controller at {address} refused: {status.message or TOKEN_REFUSAL}", code)
    if code in _FATAL:
        return ConnectionRefused(text, code)
    return TransportError(text, code)


def open_connection(
    address: Address,
    method: str,
    security: ClientSecurity | None = None,
    timeout: float = 10.0,
    who: str = "this node",
    first: Sequence[Buffer] = (),
) -> Connection:
    """Connect to a socket-transport controller for ``method`` (a gRPC method path).

    ``first`` is sent as a DATA frame right after ``Open`` (the Hello, a request), before the
    server's greeting is awaited: one round trip in all. Raises TransportError (ConnectionRefused
    for a token, TLS or transport mismatch) within ``timeout`` seconds.
    """
    security = security or ClientSecurity()
    deadline = time.monotonic() + timeout
    sock = dial(address, deadline)
    try:
        tls = None
        if security.tls is not None:
            tls = _Tls(security.tls.ssl_context(), address.host if address.unix_path is None else None)
            tls.handshake(sock, deadline, address)
        opening: list[Buffer] = [
            MAGIC,
            frame(Kind.OPEN, pb.Open(method=method, token=security.token or "").SerializeToString()),
        ]
        if first:
            opening += [header(Kind.DATA, sum(len(p) for p in first)), *first]
        _sendall(sock, [tls.encrypt(opening)] if tls is not None else opening)
        reader = FrameReader()
        frames: list[tuple[Kind, Body]] = []
        seen = b""
        while True:  # until the server's greeting is in (frames after it are kept)
            data = _recv_some(sock, deadline, address)
            if not data:
                raise _eof_refusal(address, seen, who, tls)
            try:
                if tls is not None:
                    got, back, _ = tls.decrypt(data, reader)
                    if back:
                        _sendall(sock, [back])
                else:
                    seen += data
                    got = reader.feed_bytes(data)
            except ProtocolViolation as exc:  # over TLS ``seen`` stays empty: the parser's verdict says what came
                raise _greeting_refusal(address, seen, who, str(exc)) from None
            frames += got
            if reader.greeted:
                break
        conn = Connection(sock, address, tls, reader)
        conn.keep(frames)
        return conn
    except OSError as exc:  # the controller hung up meanwhile (a reset, a broken pipe): retry later
        sock.close()
        raise TransportError(f"connection to {address} failed: {exc.strerror or exc}", Code.UNAVAILABLE) from None
    except BaseException:
        sock.close()
        raise


def _greeting_refusal(address: Address, seen: bytes, who: str, verdict: str = "") -> ConnectionRefused:
    if speaks_grpc(seen) or "gRPC" in verdict:
        return ConnectionRefused(mismatch(address, SOCKET, "grpc", who), Code.FAILED_PRECONDITION)
    if speaks_nats(seen):
        return ConnectionRefused(mismatch(address, SOCKET, NATS, who), Code.FAILED_PRECONDITION)
    what = identify(seen) if seen else verdict
    return ConnectionRefused(
        f"the controller at {address} answered with {what}, not daffi's socket transport", Code.UNAVAILABLE
    )


def _eof_refusal(address: Address, seen: bytes, who: str, tls: _Tls | None = None) -> TransportError:
    if seen and speaks_grpc(seen):
        return ConnectionRefused(mismatch(address, SOCKET, "grpc", who), Code.FAILED_PRECONDITION)
    if tls is not None and tls.obj.selected_alpn_protocol() is None:
        # A socket-transport server agrees on ALPN ``daffi/1``; a gRPC server (which needs ``h2``) agrees on
        # nothing and hangs up once TLS is up.
        return ConnectionRefused(mismatch(address, SOCKET, "grpc", who), Code.FAILED_PRECONDITION)
    return TransportError(
        f"the controller at {address} closed the connection before greeting (does it serve TLS? then pass ssl_ca=...)",
        Code.UNAVAILABLE,
    )


def probe(address: Address, security: ClientSecurity | None = None, timeout: float = 1.0) -> bool:
    """True when a socket-transport server answers at ``address`` (for a client of another transport)."""
    deadline = time.monotonic() + timeout
    try:
        sock = dial(address, deadline)
    except TransportError:
        return False
    try:
        if security is not None and security.tls is not None:
            try:
                tls = _Tls(security.tls.ssl_context(), address.host if address.unix_path is None else None)
                tls.handshake(sock, deadline, address)
            except ConnectionRefused as exc:
                return "socket transport" in str(exc)
            except TransportError:
                return False
            _sendall(sock, [tls.encrypt([MAGIC])])
            reader = FrameReader()
            while not reader.greeted:
                data = _recv_some(sock, deadline, address)
                if not data:
                    return False
                tls.decrypt(data, reader)
            return True
        seen = b""
        while len(seen) < len(MAGIC):
            data = _recv_some(sock, deadline, address)
            if not data:
                break
            seen += data
        return seen.startswith(MAGIC)
    except (TransportError, OSError, ProtocolViolation):
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.close()
