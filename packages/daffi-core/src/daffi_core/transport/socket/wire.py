"""The bytes of the socket transport, and a parser that refuses what is not them.

A connection starts with ``MAGIC`` from each side (the server sends it as soon as it accepts, so
a client of another transport is told apart at once), then frames::

    +------+----------------+---------------------+
    | kind | length (u32 BE)| body (length bytes) |
    +------+----------------+---------------------+

``DATA`` carries a serialized message of the connection's method (a ``Batch`` on ``Connect``),
``OPEN`` the client's ``Open`` (its first frame), ``CLOSE`` a ``Status`` (the sender's last
frame), ``PING``/``PONG`` keepalive (empty). A frame over ``MAX_FRAME_BYTES`` or of an unknown
kind ends the connection (``FrameTooLarge``, ``ProtocolViolation``).
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence

from daffi_core.errors import FrameTooLarge, ProtocolViolation
from daffi_core.framing import Buffer, Encoded
from daffi_core.protocol import BATCH_BYTES, MAX_MESSAGE_BYTES

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "MAX_FRAME_BYTES",
    "PING_FRAME",
    "PONG_FRAME",
    "Body",
    "FrameReader",
    "Kind",
    "data_frames",
    "frame",
    "header",
    "identify",
    "speaks_grpc",
    "speaks_nats",
]

#: The first bytes each side sends; the digit is the version of this framing.
MAGIC = b"DAFFI/1\n"
#: A frame's body may not be larger (the same limit as a gRPC message).
MAX_FRAME_BYTES = MAX_MESSAGE_BYTES
HEADER = struct.Struct(">BI")
HEADER_SIZE = HEADER.size
#: Frames up to this size are parsed out of the reader's reusable buffer; larger ones get their own.
_SMALL = 64 * 1024
#: The reusable buffer starts this small (idle and refused connections stay cheap) and grows to
#: hold a small frame whole once the bytes arriving fill it.
_FIRST = 4096
_CAP = _SMALL + HEADER_SIZE
_HTTP2_PREFACE = b"PRI * HTTP/2.0"
#: How a NATS server's greeting (its first line, sent unasked) starts.
_NATS_INFO = b"INFO {"


class Kind(enum.IntEnum):
    DATA = 0
    OPEN = 1
    CLOSE = 2
    PING = 3
    PONG = 4


_KINDS = frozenset(int(k) for k in Kind)
PING_FRAME = HEADER.pack(Kind.PING, 0)
PONG_FRAME = HEADER.pack(Kind.PONG, 0)
Body = bytes | bytearray


def header(kind: Kind, size: int) -> bytes:
    """The header of a frame of ``size`` body bytes; raises FrameTooLarge over the limit."""
    if size > MAX_FRAME_BYTES:
        raise FrameTooLarge(size, MAX_FRAME_BYTES)
    return HEADER.pack(kind, size)


def frame(kind: Kind, body: bytes = b"") -> bytes:
    """A whole frame."""
    return header(kind, len(body)) + body


def data_frames(frames: Sequence[Encoded]) -> list[Buffer]:
    """``frames`` as DATA frames of one ``Batch`` each, a batch closed once it holds ``BATCH_BYTES``."""
    parts: list[Buffer] = []
    batch: list[Buffer] = []
    size = 0
    for encoded in frames:
        if size and size + encoded.size > BATCH_BYTES:
            parts += [header(Kind.DATA, size), *batch]
            batch, size = [], 0
        batch.extend(encoded.parts)
        size += encoded.size
    if batch:
        parts += [header(Kind.DATA, size), *batch]
    return parts


def identify(prefix: bytes) -> str:
    """What the first bytes a peer sent look like, for an error message."""
    if prefix.startswith(_HTTP2_PREFACE[: len(prefix)]) and prefix:
        return "a gRPC (HTTP/2) client"
    if len(prefix) >= 9 and prefix[3] == 0x04 and prefix[5:9] == b"\x00\x00\x00\x00":
        return "a gRPC (HTTP/2) server"
    if speaks_nats(prefix):
        return "a NATS server"
    if prefix[:1] == b"\x16" and prefix[1:2] == b"\x03":
        return "a TLS handshake"
    if prefix[:1] == b"\x15" and prefix[1:2] == b"\x03":
        return "a TLS alert (the other side speaks TLS)"
    return f"bytes that are not daffi's socket transport ({prefix[:16]!r})"


def speaks_grpc(prefix: bytes) -> bool:
    return identify(prefix).startswith("a gRPC")


def speaks_nats(prefix: bytes) -> bool:
    """``prefix`` is the start of a NATS server's greeting."""
    return prefix.startswith(_NATS_INFO)


class FrameReader:
    """Turns received bytes into ``(kind, body)`` frames; receive into ``buffer()``, then ``feed(n)``.

    The greeting comes first (unless ``greeted``). Small frames are copied out of one reusable
    buffer; a large frame is received straight into a buffer of its own, which becomes its body.
    """

    def __init__(self, greeted: bool = False, limit: int = MAX_FRAME_BYTES) -> None:
        self._greeted = greeted
        self._limit = limit
        self._buf = bytearray(_FIRST)
        self._view = memoryview(self._buf)
        self._start = self._end = 0
        self._big: bytearray | None = None
        self._big_kind = Kind.DATA
        self._big_have = 0

    @property
    def greeted(self) -> bool:
        """The peer's greeting has arrived."""
        return self._greeted

    def buffer(self) -> memoryview:
        """Where the next received bytes go (never empty)."""
        if self._big is not None:
            return memoryview(self._big)[self._big_have :]
        return self._view[self._end :]

    def feed(self, count: int) -> list[tuple[Kind, Body]]:
        """Account for ``count`` bytes received into ``buffer()``; the frames now complete."""
        if self._big is not None:
            self._big_have += count
            if self._big_have < len(self._big):
                return []
            done: list[tuple[Kind, Body]] = [(self._big_kind, self._big)]
            self._big = None
            return done
        filled = self._end + count == len(self._buf)
        self._end += count
        frames = self._parse()
        if (filled or self._end == len(self._buf)) and len(self._buf) < _CAP:
            self._grow(min(_CAP, 4 * len(self._buf)))
        return frames

    def _grow(self, size: int) -> None:
        bigger = bytearray(size)
        bigger[: self._end] = self._buf[: self._end]
        self._buf, self._view = bigger, memoryview(bigger)

    def feed_bytes(self, data: bytes) -> list[tuple[Kind, Body]]:
        """``feed`` for bytes that arrived elsewhere (copied in)."""
        frames: list[tuple[Kind, Body]] = []
        view = memoryview(data)
        while view:
            target = self.buffer()
            n = min(len(target), len(view))
            target[:n] = view[:n]
            view = view[n:]
            frames += self.feed(n)
        return frames

    def _parse(self) -> list[tuple[Kind, Body]]:
        buf, start, end = self._buf, self._start, self._end
        frames: list[tuple[Kind, Body]] = []
        if not self._greeted:
            have = self._view[start : min(end, start + len(MAGIC))].tobytes()
            if have != MAGIC[: len(have)]:
                raise ProtocolViolation(f"expected daffi's socket transport, got {identify(have)}")
            if len(have) < len(MAGIC):
                return frames
            self._greeted = True
            start += len(MAGIC)
        while end - start >= HEADER_SIZE:
            kind, size = HEADER.unpack_from(buf, start)
            if kind not in _KINDS:
                raise ProtocolViolation(f"unknown frame kind {kind} (bytes that are not daffi's socket transport)")
            if size > self._limit:
                raise FrameTooLarge(size, self._limit)
            body_at = start + HEADER_SIZE
            if size > _SMALL:  # never whole in the buffer (it holds a small frame at most): read on in its own
                big = bytearray(size)
                got = end - body_at
                big[:got] = buf[body_at:end]
                start = end
                self._big, self._big_kind, self._big_have = big, Kind(kind), got
                break
            if end - body_at < size:
                break
            frames.append((Kind(kind), self._view[body_at : body_at + size].tobytes()))
            start = body_at + size
        # Keep what is left (a partial header or frame) at the front; at full size the buffer has room for it.
        if start == end:
            start = end = 0
        elif start:
            buf[: end - start] = buf[start:end]
            end -= start
            start = 0
        self._start, self._end = start, end
        return frames
