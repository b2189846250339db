"""``Batch`` messages written by hand, so payload bytes are copied once per hop.

A ``Batch`` on the wire is its frames one after the other, each as field 1 (length-delimited).
Building ``pb.Frame``/``pb.Batch`` objects copies a payload at every step (into the message, into
the batch, out again when serialized); here a frame is a list of buffers that the writer joins
once. The controller forwards a received message as a view of the bytes it read, with its
``peer`` field appended: protobuf keeps the last value of a repeated singular field, so the
receiver sees the new peer and every other field untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from daffi_core.proto import daffi_pb2 as pb

__all__ = [
    "Buffer",
    "Encoded",
    "batch",
    "forward",
    "frame",
    "message",
    "message_views",
    "read_varint",
    "reencoded",
    "varint",
]

Buffer = bytes | memoryview

_LEN = 2  # wire type of length-delimited fields
_BATCH_FRAME = bytes([1 << 3 | _LEN])  # Batch.frames = 1
_FRAME_MESSAGE = bytes([7 << 3 | _LEN])  # Frame.message = 7
_MESSAGE_PEER = bytes([3 << 3 | _LEN])  # Message.peer = 3
_MESSAGE_PAYLOAD = bytes([4 << 3 | _LEN])  # Message.payload = 4


class Encoded(NamedTuple):
    """One element of ``Batch.frames``, ready to write: ``parts`` concatenated."""

    parts: tuple[Buffer, ...]
    #: Bytes of payload it carries (what flow control counts).
    payload: int
    #: Bytes of ``parts`` in all (what counts towards gRPC's message limit).
    size: int


def varint(value: int) -> bytes:
    """``value`` (≥ 0) as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(frame: pb.Frame) -> Encoded:
    """Any frame, through protobuf (control frames: small)."""
    data = frame.SerializeToString()
    head = _BATCH_FRAME + varint(len(data))
    return Encoded((head, data), 0, len(head) + len(data))


def message(header: pb.Message, payload: Buffer = b"") -> Encoded:
    """A ``Message`` frame: ``header`` (no payload set) serialized, then ``payload`` appended as is."""
    tail = _MESSAGE_PAYLOAD + varint(len(payload)) if payload else b""
    return _message_frame((header.SerializeToString(), tail, payload), len(payload))


def reencoded(msg: pb.Message) -> Encoded:
    """A parsed ``Message`` (payload included) as a frame again."""
    return _message_frame((msg.SerializeToString(),), len(msg.payload))


def forward(message: memoryview, peer: str) -> Encoded:
    """A received ``Message`` (its bytes, from ``message_views``) with ``peer`` set to ``peer``."""
    name = peer.encode()
    return _message_frame((message, _MESSAGE_PEER + varint(len(name)) + name), len(message))


def _message_frame(inner: tuple[Buffer, ...], payload: int) -> Encoded:
    """A ``Frame`` whose ``message`` field is ``inner`` concatenated, as an element of ``Batch.frames``."""
    size = sum(len(part) for part in inner)
    prefix = _FRAME_MESSAGE + varint(size)
    head = _BATCH_FRAME + varint(len(prefix) + size) + prefix
    return Encoded((head, *inner), payload, len(head) + size)


def batch(frames: Sequence[Encoded]) -> bytes:
    """The serialized ``Batch`` of ``frames``."""
    return b"".join([part for encoded in frames for part in encoded.parts])


def message_views(raw: bytes | bytearray) -> list[memoryview | None] | None:
    """For each frame of the serialized ``Batch`` ``raw``: the bytes of its ``Message``.

    An entry is None for a frame that is not exactly one ``message`` field; the result is None
    when ``raw`` is not laid out as frames only (then use what protobuf parsed).
    """
    try:
        elements = _fields(memoryview(raw))
    except ValueError:
        return None
    out: list[memoryview | None] = []
    for tag, element in elements:
        if tag != _BATCH_FRAME[0]:
            return None
        try:
            inner = _fields(element)
        except ValueError:
            inner = []
        out.append(inner[0][1] if len(inner) == 1 and inner[0][0] == _FRAME_MESSAGE[0] else None)
    return out


def _fields(view: memoryview) -> list[tuple[int, memoryview]]:
    """The length-delimited fields of ``view`` as (tag byte, contents); raises ValueError otherwise."""
    fields = []
    at, end = 0, len(view)
    while at < end:
        tag = view[at]
        if tag & 0x80 or tag & 0x07 != _LEN:
            raise ValueError("not a length-delimited field with a one-byte tag")
        at += 1
        size, at = read_varint(view, at)
        if at + size > end:
            raise ValueError("truncated field")
        fields.append((tag, view[at : at + size]))
        at += size
    return fields


def read_varint(view: Buffer, at: int, max_shift: int = 63) -> tuple[int, int]:
    """The protobuf varint at ``at`` and the index after it; ValueError when it is cut short or its
    bytes go past ``max_shift`` bits of shift (63: any 64-bit value)."""
    value = shift = 0
    while True:
        if at >= len(view) or shift > max_shift:
            raise ValueError("bad varint")
        byte = view[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
