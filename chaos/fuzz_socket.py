"""The socket transport in the fuzz target: bytes → ``ServerConnection`` → ``SocketService`` → the switchboard.

A socket node of a script (chaos/fuzz_target.py) is a real ``ServerConnection`` opened by a real
``SocketService`` on the script's ``Switchboard``, so calls cross between the transports. Only the asyncio
transport is fake (:class:`Wire`): it hands the fuzzer's bytes over as asyncio hands them to a
``BufferedProtocol`` (one piece per loop turn, held back while reading is paused; then ``eof_received`` or
``connection_lost``) and captures what the server writes. :class:`Oracle` parses what each client sent,
plainly and independently, and ``Conn.check`` holds the server to it after every step (the framing
written, how a refused connection ends, PONGs, answers, the registry, held buffers, tokens; all listed in
docs/reliability-fuzz.md). The steps: ``dial``, ``frames``, ``bytes``, ``hangup``, ``drop``, ``slow``.
"""

from __future__ import annotations

import asyncio
import socket
import traceback
import types
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daffi_controller import socket_service
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CATALOG_METHOD, CONNECT_METHOD, HEALTH_METHOD, PROTOCOL_VERSION
from daffi_core.transport import Code
from daffi_core.transport.socket import server as socket_server
from daffi_core.transport.socket import wire
from daffi_core.transport.socket.server import ServerConnection
from daffi_core.transport.socket.wire import HEADER, HEADER_SIZE, MAGIC, MAX_FRAME_BYTES, Kind

from chaos.fuzz_target import (
    RAW_MAX,
    SECRETS,
    SMALL_BATCH,
    TOKEN,
    TRIPWIRE,
    WRONG_TOKEN,
    Draw,
    Run,
    _batch,
    _hello,
)

# The socket transport at the scale of fuzz inputs, like the outbox (see SMALL_BATCH): DATA frames are cut at
# SMALL_BATCH bytes, a node's sink and its connection are behind past 2 KiB and caught up under 1 KiB.
assert "BATCH_BYTES" in vars(wire) and "QUEUE_HIGH_BYTES" in vars(socket_service), "socket transport changed"
assert {"QUEUE_HIGH_BYTES", "QUEUE_LOW_BYTES"} <= set(vars(socket_server)), "socket transport changed"
wire.BATCH_BYTES = SMALL_BATCH  # type: ignore[attr-defined]
socket_service.QUEUE_HIGH_BYTES = 2 * SMALL_BATCH  # type: ignore[attr-defined]
socket_server.QUEUE_HIGH_BYTES = 2 * SMALL_BATCH  # type: ignore[attr-defined]
socket_server.QUEUE_LOW_BYTES = SMALL_BATCH  # type: ignore[attr-defined]

# ------------------------------------------------------------------------------ the input grammar

KINDS = frozenset(int(k) for k in Kind)
#: What a connection sends before its Open.
GREETINGS = ("magic", "magic", "magic", "none", "part", "other")
OTHER_GREETINGS = (
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # a gRPC client
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS client
    b"\x15\x03\x03\x00\x02\x02\x28",  # a TLS alert
    b"DAFFI/2\n",
    b"GET / HTTP/1.1\r\n\r\n",
)
#: How it opens: an Open, DATA (its first message) without one, an Open that does not parse, two, none.
OPENINGS = ("open", "open", "open", "data-first", "garbage", "twice", "none")
METHODS = (CONNECT_METHOD, CONNECT_METHOD, CONNECT_METHOD, CATALOG_METHOD, HEALTH_METHOD, "/daffi.v1.Nope/X", "")
TOKENS = (TOKEN, TOKEN, "", WRONG_TOKEN, TOKEN[:-1])
#: How bytes are cut into the pieces ``buffer_updated`` gets: whole, pieces of drawn sizes, byte by byte.
SPLITS = ("whole", "whole", "sizes", "bytes")
BYTEWISE = 64  # "bytes": the first 64 bytes one at a time, then the rest
FRAME_KINDS = (Kind.DATA, Kind.DATA, Kind.DATA, Kind.OPEN, Kind.CLOSE, Kind.PING, Kind.PONG, 5, 0x16, 0xFF)
DATA_BODIES = ("raw", "raw", "batch", "big")
#: Length prefixes: the body's, a few bytes less or more, or a claim (around the reader's 64 KiB buffer, the limit).
LENGTHS = ("exact", "exact", "exact", "short", "long", "claim")
CLAIMS = (64 * 1024, 64 * 1024 + 1, MAX_FRAME_BYTES, MAX_FRAME_BYTES + 1, 2**32 - 1)
CLOSE_CODES = (Code.OK, Code.CANCELLED, Code.INVALID_ARGUMENT, Code.UNAVAILABLE, 99)
MAX_CONNS = 7
#: How a node's session may end, when neither the client nor the transport decided: its Hello was refused (OK,
#: after the Reject), it sent bytes that are no Batch (INVALID_ARGUMENT), the controller stopped (UNAVAILABLE).
SESSION_CODES = frozenset({Code.OK, Code.INVALID_ARGUMENT, Code.UNAVAILABLE})


def _sized_batch(size: int) -> bytes:
    """A Batch of exactly ``size`` bytes: one CALL of ``add``, its payload padded."""
    pad = size - 64
    while True:
        msg = pb.Message(
            kind=pb.Message.CALL,
            call_id=9,
            payload=TRIPWIRE + bytes(pad),
            encoding=pb.PICKLE,
            head=pb.CallHead(name="add"),
        )
        data = pb.Batch(frames=[pb.Frame(message=msg)]).SerializeToString()
        if len(data) == size:
            return data
        pad += size - len(data)


#: Batches at the reader's 64 KiB limit of small frames: the largest that fills its reusable buffer (once grown
#: from 4 KiB), the smallest received into a buffer of its own.
BIG = (_sized_batch(64 * 1024), _sized_batch(64 * 1024 + 1))


def _pieces(d: Draw, data: bytes) -> list[bytes]:
    how = d.pick(SPLITS)
    if how == "whole":
        return [data] if data else []
    if how == "bytes":
        return [data[i : i + 1] for i in range(min(len(data), BYTEWISE))] + (
            [data[BYTEWISE:]] if len(data) > BYTEWISE else []
        )
    pieces, at = [], 0
    for _ in range(d.number(1, 4)):
        size = d.number(1, 512)
        pieces.append(data[at : at + size])
        at += size
    pieces.append(data[at:])
    return [p for p in pieces if p]


def _greeting(d: Draw) -> bytes:
    style = d.pick(GREETINGS)
    if style == "magic":
        return MAGIC
    if style == "part":
        return MAGIC[: d.number(1, len(MAGIC) - 1)]
    if style == "other":
        return d.pick(OTHER_GREETINGS)
    return b""


def _open(method: str, token: str) -> bytes:
    return wire.frame(Kind.OPEN, pb.Open(method=method, token=token).SerializeToString())


def _body(d: Draw, kind: int) -> tuple[bytes, str]:
    if kind == Kind.DATA:
        style = d.pick(DATA_BODIES)
        if style == "batch":
            batch = _batch(d)
            return batch.SerializeToString(), f"batch of {len(batch.frames)}"
        if style == "big":
            return d.pick(BIG), "big batch"
        raw = d.blob(RAW_MAX)
        return raw, raw.hex()
    if kind == Kind.OPEN:
        if d.flag():
            method, token = d.pick(METHODS), d.pick(TOKENS)
            return pb.Open(method=method, token=token).SerializeToString(), f"{method} token#{TOKENS.index(token)}"
    elif kind == Kind.CLOSE and d.flag():
        code = d.pick(CLOSE_CODES)
        return pb.Status(code=code, message="bye").SerializeToString(), f"code {code}"
    raw = d.blob(RAW_MAX if kind in (Kind.OPEN, Kind.CLOSE) else 16)
    return raw, raw.hex()


def _frame(d: Draw) -> tuple[bytes, str]:
    """One socket frame: header and body, the header's length true or not."""
    kind = d.pick(FRAME_KINDS)
    body, about = _body(d, kind)
    size, how = len(body), d.pick(LENGTHS)
    if how == "short":
        size = max(0, size - d.number(1, 8))
    elif how == "long":
        size += d.number(1, 8)
    elif how == "claim":
        size = d.pick(CLAIMS)
    name = Kind(kind).name if kind in KINDS else f"kind {kind}"
    return HEADER.pack(kind, size) + body, f"{name}[{size}{'' if size == len(body) else f'/{len(body)}'}] {about}"


# ------------------------------------------------------------------------------ the oracle


class Oracle:
    """What the server must make of the bytes of one client: a plain parse of them, chunk by chunk as
    ``buffer_updated`` got them (the frames of a chunk that also holds a violation are not processed: the
    reader raises before it returns any)."""

    def __init__(self, run: Run, secured: bool) -> None:
        self._run = run
        self._secured = secured
        self._data = bytearray()
        self._greeted = False
        self._broken = False  # the parse failed: the rest is not daffi's framing
        #: The CLOSE code the connection must end with, once the client's bytes decided it.
        self.verdict: int | None = None
        #: The method of the Open the server accepted.
        self.method: str | None = None
        #: PINGs it must answer.
        self.pings = 0
        #: The first DATA body of a Connect: the node's Hello.
        self.hello: bytes | None = None

    def chunk(self, data: bytes) -> None:
        if self._broken:
            return
        self._data += data
        frames, error = self._frames()
        for kind, body in frames:
            if kind == Kind.DATA:
                self._run.count_in(body)  # what the controller may forward (a bound, even past a verdict)
        if self.verdict is not None:
            return  # the server has closed and reads nothing more
        if error is not None:
            self.verdict = error
            return
        for kind, body in frames:
            self._frame(kind, body)
            if self.verdict is not None:
                return

    def eof(self) -> None:
        if self.verdict is None:
            self.verdict = Code.OK

    def _frames(self) -> tuple[list[tuple[int, bytes]], int | None]:
        data, at = self._data, 0
        frames: list[tuple[int, bytes]] = []
        if not self._greeted:
            if not MAGIC.startswith(bytes(data[: len(MAGIC)])):
                self._broken = True
                return frames, Code.INVALID_ARGUMENT
            if len(data) < len(MAGIC):
                return frames, None
            self._greeted, at = True, len(MAGIC)
        error = None
        while len(data) - at >= HEADER_SIZE:
            kind, size = HEADER.unpack_from(data, at)
            if kind not in KINDS or size > MAX_FRAME_BYTES:
                self._broken = True
                error = Code.INVALID_ARGUMENT if kind not in KINDS else Code.RESOURCE_EXHAUSTED
                break
            if len(data) - at - HEADER_SIZE < size:
                break
            frames.append((kind, bytes(data[at + HEADER_SIZE : at + HEADER_SIZE + size])))
            at += HEADER_SIZE + size
        del data[:at]
        return frames, error

    def _frame(self, kind: int, body: bytes) -> None:
        if kind == Kind.DATA:
            if self.method is None:
                self.verdict = Code.INVALID_ARGUMENT  # DATA before Open
            elif self.method == CONNECT_METHOD and self.hello is None:
                self.hello = body
        elif kind == Kind.PING:
            self.pings += 1
        elif kind == Kind.CLOSE:
            self.verdict = Code.OK  # the client is done
        elif kind == Kind.OPEN:
            if self.method is not None:
                self.verdict = Code.INVALID_ARGUMENT  # a second Open
                return
            try:
                request = pb.Open.FromString(body)
            except Exception:
                self.verdict = Code.INVALID_ARGUMENT
                return
            if self._secured and request.method != HEALTH_METHOD and request.token != TOKEN:
                self.verdict = Code.UNAUTHENTICATED
            elif request.method == CONNECT_METHOD:
                self.method = request.method
            elif request.method in (CATALOG_METHOD, HEALTH_METHOD):
                self.method, self.verdict = request.method, Code.OK  # answered, then closed
            else:
                self.verdict = Code.UNIMPLEMENTED


# ------------------------------------------------------------------------------ the transport and the connection

_EOF = None


class Wire:
    """The fake asyncio transport of one connection: delivers the client's bytes, captures the server's."""

    def __init__(self, conn: Conn, tcp: bool, half_close: bool) -> None:
        self._conn = conn
        self._tcp = tcp
        self._half_close = half_close  # TCP and UNIX sockets can write_eof, TLS cannot
        self.out = bytearray()  # what the server wrote, not yet checked
        self.held: list[tuple[Any, bytes]] = []  # buffers it wrote that are not bytes, and their bytes then
        self.pending: deque[bytes | None] = deque()  # what the client sent, not yet read (None: its EOF)
        self.reading = True
        self.closed = False  # the server called close() or abort()
        self.eof_written = False
        self.reset = False  # the connection broke: connection_lost comes
        self.lost = False  # connection_lost was called
        self.slow = False
        self.backlog = 0  # bytes waiting to be sent while slow
        self._writing_paused = False
        self._high, self._low = 64 * 1024, 16 * 1024
        self._pumping = False

    # -- what the server calls
    def write(self, data: Any) -> None:
        self._take([data])

    def writelines(self, parts: Any) -> None:
        self._take(list(parts))

    def _take(self, parts: list[Any]) -> None:
        if self.reset and not self.lost:
            return  # the connection broke and the server does not know yet: asyncio drops the bytes
        if self.lost or self.closed or self.eof_written:
            state = "it was lost" if self.lost else "close()" if self.closed else "write_eof()"
            self._conn.violate(f"the server wrote {sum(len(p) for p in parts)} bytes after {state}")
            return
        for part in parts:
            data = bytes(part)
            if not isinstance(part, bytes):
                self.held.append((part, data))
            self.out += data
            if self.slow:
                self.backlog += len(data)
        if self.slow and not self._writing_paused and self.backlog > self._high:
            self._writing_paused = True
            self._conn.call(self._conn.proto.pause_writing)

    def write_eof(self) -> None:
        if self.closed or self.lost:
            self._conn.violate("write_eof() after close() or connection_lost")
        self.eof_written = True

    def can_write_eof(self) -> bool:
        return self._half_close

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self._connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed or self.reset

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", 40000 + len(self._conn.run.conns)) if self._tcp else ""
        if name == "socket":
            # enough of a socket for TCP_NODELAY
            return types.SimpleNamespace(
                family=socket.AF_INET if self._tcp else socket.AF_UNIX, setsockopt=lambda *args: None
            )
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = high if high is not None else self._high
        self._low = low if low is not None else self._high // 4

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        self._schedule()

    def is_reading(self) -> bool:
        return self.reading

    # -- what the client (the script) does
    def deliver(self, items: Sequence[bytes | None]) -> None:
        self.pending.extend(items)
        self._schedule()

    def break_off(self, exc: Exception | None) -> None:
        """The connection breaks (a reset, or the client's last close): connection_lost comes."""
        if not self.lost and not self.reset:
            self.reset = True
            asyncio.get_running_loop().call_soon(self._connection_lost, exc)

    def toggle_slow(self) -> None:
        if not self.slow:
            self.slow = True
            return
        self.slow, self.backlog = False, 0
        if self._writing_paused:
            self._writing_paused = False
            self._conn.call(self._conn.proto.resume_writing)

    # -- the event loop's side
    def _schedule(self) -> None:
        if not self._pumping and self.reading and self.pending and not (self.closed or self.lost or self.reset):
            self._pumping = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        """One read: a piece (as much of it as ``get_buffer`` has room for, as asyncio does), or the EOF."""
        self._pumping = False
        if not self.reading or not self.pending or self.closed or self.lost or self.reset:
            return
        item = self.pending.popleft()
        if item is _EOF:
            self._conn.oracle.eof()
            if not self._conn.call(self._conn.proto.eof_received):
                self.close()
        else:
            rest = self._conn.feed(item)
            if rest:
                self.pending.appendleft(rest)
        self._schedule()

    def _connection_lost(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = True
            self._conn.call(self._conn.proto.connection_lost, exc)


@dataclass(eq=False)
class Conn:
    """One socket-transport connection of the script: the server's protocol, its fake transport, the oracle."""

    label: str
    run: Run
    oracle: Oracle
    proto: ServerConnection
    wire: Wire = field(init=False)
    hung_up: bool = False  # the client sent its EOF: it sends nothing more
    welcomed: bool = False
    rejected: bool = False
    # what the server wrote, as checked so far
    greeted: bool = False
    status: pb.Status | None = None  # its CLOSE frame
    answers: int = 0
    pongs: int = 0

    @property
    def name(self) -> str:
        """The process name its Hello gave (the name the controller knows the node by), else ""."""
        hello = self.oracle.hello
        if hello is None:
            return ""
        try:
            frames = pb.Batch.FromString(hello).frames
        except Exception:
            return ""
        return frames[0].hello.process_name if frames and frames[0].HasField("hello") else ""

    @property
    def connected(self) -> bool:
        """The server has not closed it and it is not lost."""
        return self.status is None and not self.wire.lost

    def violate(self, what: str, exc: BaseException | None = None) -> None:
        if exc is not None:
            what += "\n" + "".join(traceback.format_exception(exc))[-3000:]
        self.run.violations.append(self.run.fail(f"{self.label} {self.name!r}: {what}"))

    def call(self, method: Callable[..., Any], *args: Any) -> Any:
        """A callback of the protocol, as asyncio makes it: nothing may escape it."""
        try:
            return method(*args)
        except Exception as exc:
            self.violate(f"{method.__name__}{args!r:.60} raised {exc!r}", exc)
            return None

    def feed(self, data: bytes) -> bytes:
        """Receive ``data`` the way asyncio does; what is left when the connection stops reading."""
        view = memoryview(data)
        while view and self.wire.reading and not (self.wire.closed or self.wire.lost):
            buffer = self.call(self.proto.get_buffer, len(view))
            if buffer is None:
                return b""
            n = min(len(buffer), len(view))
            if n == 0:
                self.violate("get_buffer() returned an empty buffer")
                return b""
            buffer[:n] = view[:n]
            self.oracle.chunk(bytes(view[:n]))
            self.call(self.proto.buffer_updated, n)
            view = view[n:]
        return bytes(view)

    # -- the checks
    def check(self) -> None:
        """What the server wrote since the last check, held to the framing and to the oracle."""
        run, out = self.run, self.wire.out
        for part, then in self.wire.held:
            if bytes(part) != then:
                raise run.fail(f"{self.label}: a buffer the server wrote changed afterwards: {then[:60]!r}")
        self.wire.held.clear()
        leaked = [s for s in SECRETS if s.encode() in out and s.encode() not in run.data]
        if leaked:
            raise run.fail(f"{self.label}: the server wrote a token ({leaked[0][:4]}...)")
        at = 0
        if not self.greeted:
            if out[: len(MAGIC)] != MAGIC:
                raise run.fail(f"{self.label}: the server's bytes do not start with MAGIC: {bytes(out[:16])!r}")
            self.greeted, at = True, len(MAGIC)
        while at < len(out):
            if self.status is not None:
                raise run.fail(f"{self.label}: {len(out) - at} bytes written after the CLOSE frame")
            if len(out) - at < HEADER_SIZE:
                raise run.fail(f"{self.label}: the server wrote a partial frame header {bytes(out[at:])!r}")
            kind, size = HEADER.unpack_from(out, at)
            if kind not in KINDS or size > MAX_FRAME_BYTES or len(out) - at - HEADER_SIZE < size:
                raise run.fail(f"{self.label}: the server wrote a bad frame header: kind {kind}, {size} bytes")
            at += HEADER_SIZE
            self._written(Kind(kind), bytes(out[at : at + size]))
            at += size
        del out[:at]
        self._against_oracle()

    def _written(self, kind: Kind, body: bytes) -> None:
        run, method = self.run, self.oracle.method
        if kind == Kind.DATA:
            if method == CONNECT_METHOD:
                run.check_written(self, body)
                return
            if method not in (CATALOG_METHOD, HEALTH_METHOD):
                raise run.fail(f"{self.label}: DATA written on a connection that was never opened")
            self.answers += 1
            try:
                answer = (pb.Catalog if method == CATALOG_METHOD else pb.Health).FromString(body)
            except Exception:
                raise run.fail(f"{self.label}: the answer to {method} does not parse: {body[:100]!r}") from None
            if isinstance(answer, pb.Health):
                if not answer.serving or answer.protocol_version != PROTOCOL_VERSION:
                    raise run.fail(f"{self.label}: health answer {answer}")
            elif not {n.process_name for n in answer.nodes} <= {n.name for n in run.nodes()} - {""}:
                raise run.fail(f"{self.label}: the catalog names nodes nobody started: {answer}")
        elif kind in (Kind.PING, Kind.PONG):
            if body:
                raise run.fail(f"{self.label}: a {kind.name} with a body")
            self.pongs += kind == Kind.PONG
        elif kind == Kind.CLOSE:
            try:
                self.status = pb.Status.FromString(body)
            except Exception:
                raise run.fail(f"{self.label}: a CLOSE frame whose body is no Status: {body[:100]!r}") from None
        else:
            raise run.fail(f"{self.label}: the server wrote an {kind.name} frame")

    def _against_oracle(self) -> None:
        run, oracle, status = self.run, self.oracle, self.status
        if self.pongs > oracle.pings:
            raise run.fail(f"{self.label}: {self.pongs} PONGs written for {oracle.pings} PINGs")
        session = oracle.method == CONNECT_METHOD
        if status is None:
            if oracle.verdict is not None and not self.wire.lost:
                raise run.fail(
                    f"{self.label}: still open, but the client's bytes called for a CLOSE ({Code(oracle.verdict).name})"
                )
            return
        code = status.code
        if not session:  # the transport's decision alone: exactly the oracle's
            if oracle.verdict is None:
                raise run.fail(f"{self.label}: closed with {code} {status.message!r}, though nothing called for it")
            if code != oracle.verdict:
                raise run.fail(
                    f"{self.label}: closed with code {code} {status.message!r}, expected {Code(oracle.verdict).name}"
                )
            if oracle.pings != self.pongs:
                raise run.fail(f"{self.label}: {self.pongs} PONGs written for {oracle.pings} PINGs")
            answers = 1 if oracle.method is not None else 0
            if self.answers != answers:
                raise run.fail(f"{self.label}: {self.answers} answers to {oracle.method}")
        elif oracle.verdict is None and (code not in SESSION_CODES or (code == Code.OK and not self.rejected)):
            raise run.fail(f"{self.label}: a node's connection closed with {code} {status.message!r}")


def check(run: Run) -> set[str]:
    """Check every connection; the names of the socket nodes the registry must hold (and no others)."""
    for conn in run.conns:
        conn.check()
    return {c.name for c in run.conns if c.welcomed and c.connected}


# ------------------------------------------------------------------------------ the steps


def _connect(run: Run, secured: bool, tcp: bool, half_close: bool) -> Conn:
    proto = ServerConnection(
        run.service, TOKEN if secured else None, keepalive=3600.0, open_timeout=3600.0, log=socket_service.log
    )
    conn = Conn(f"s{len(run.conns)}", run, Oracle(run, secured), proto)
    conn.wire = Wire(conn, tcp, half_close)
    run.conns.append(conn)
    conn.call(proto.connection_made, conn.wire)
    return conn


def _dial(run: Run, d: Draw) -> None:
    secured = d.flag()
    greeting = _greeting(d)
    opening = d.pick(OPENINGS)
    method, token = d.pick(METHODS), d.pick(TOKENS)
    _, about, first, style = _hello(d)
    tcp, half_close = d.flag(), d.flag()
    data = bytearray(greeting)
    if opening in ("open", "twice"):
        data += _open(method, token)
    elif opening == "garbage":
        data += wire.frame(Kind.OPEN, b"\xff\xff")
    if opening != "none" and first is not None:
        data += wire.frame(Kind.DATA, first)
    if opening == "twice":
        data += _open(method, token)
    pieces = _pieces(d, bytes(data))
    run.log.append(
        f"dial {'secured ' if secured else ''}{greeting!r} {opening} {method} token#{TOKENS.index(token)} "
        f"{about} in {len(pieces)}"
    )
    if len(run.conns) >= MAX_CONNS:
        return
    conn = _connect(run, secured, tcp, half_close)
    if style == "eof":
        conn.hung_up = True
    conn.wire.deliver([*pieces, _EOF] if style == "eof" else pieces)


def step(run: Run, op: str, d: Draw) -> None:
    """One socket step of the script (its bytes are delivered while the target lets the loop run)."""
    if op == "dial":
        _dial(run, d)
        return
    if not run.conns:
        run.log.append(f"{op} (no connection)")
        return
    conn = run.conns[d.number(0, len(run.conns) - 1)]
    if op == "frames":
        frames = [_frame(d) for _ in range(d.number(1, 4))]
        pieces = _pieces(d, b"".join(f for f, _ in frames))
        run.log.append(f"frames {conn.label} {'; '.join(about for _, about in frames)} in {len(pieces)}")
        if not conn.hung_up:
            conn.wire.deliver(pieces)
    elif op == "bytes":
        raw = d.blob(RAW_MAX)
        pieces = _pieces(d, raw)
        run.log.append(f"bytes {conn.label} {raw.hex()} in {len(pieces)}")
        if not conn.hung_up:
            conn.wire.deliver(pieces)
    elif op == "hangup":
        run.log.append(f"hangup {conn.label}")
        if not conn.hung_up:
            conn.hung_up = True
            conn.wire.deliver([_EOF])
    elif op == "drop":
        error = d.flag()
        run.log.append(f"drop {conn.label}{' (reset)' if error else ''}")
        conn.wire.break_off(ConnectionResetError(104, "Connection reset by peer") if error else None)
    elif op == "slow":
        run.log.append(f"slow {conn.label}")
        conn.wire.toggle_slow()


def hang_up_all(run: Run) -> None:
    """The end of a script: every client catches up and sends its EOF."""
    for conn in run.conns:
        if conn.wire.slow:
            conn.wire.toggle_slow()
        if not conn.hung_up:
            conn.hung_up = True
            conn.wire.deliver([_EOF])


def tear_down_all(run: Run) -> None:
    """Then every connection goes (the client closes, the server's linger ends): connection_lost. By then the
    server has read all that every client sent (a connection paused for back-pressure has resumed)."""
    for conn in run.conns:
        wire = conn.wire
        if wire.pending and not (wire.closed or wire.reset or wire.lost):
            raise run.fail(f"{conn.label}: {len(wire.pending)} pieces never read (reading paused for good)")
        wire.break_off(None)


__all__ = ["Conn", "check", "hang_up_all", "step", "tear_down_all"]
