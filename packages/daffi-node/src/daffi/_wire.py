"""Splitting payloads into frames and joining them again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from daffi_core import framing
from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CHUNK_SIZE

__all__ = ["Assembler", "MessageField", "frames"]

#: A field of ``pb.Message`` given by keyword to ``frames`` (``head=``, ``error=``, ``count=``, ...).
MessageField: TypeAlias = "pb.CallHead | pb.Error | int | str | bytes | bool | Iterable[str]"


def frames(
    kind: int, call_id: int, peer: str, payload: bytes = b"", encoding: int = 0, **fields: MessageField
) -> list[Encoded]:
    """The frames of one message; payloads over ``CHUNK_SIZE`` are split (``fields`` go in the first).

    Pieces are views of ``payload``: it is copied once, when the batch is written.
    """
    if len(payload) <= CHUNK_SIZE:  # nearly every message: one frame, only the fields that are set
        message = pb.Message(kind=kind, call_id=call_id, peer=peer, encoding=encoding, **fields)  # type: ignore[arg-type]
        return [framing.message(message, payload)]
    view = memoryview(payload)
    pieces = [view[start : start + CHUNK_SIZE] for start in range(0, len(payload), CHUNK_SIZE)]
    last = len(pieces) - 1
    return [
        framing.message(
            pb.Message(
                kind=pb.Message.Kind.ValueType(kind),
                call_id=call_id,
                peer=peer,
                encoding=pb.Encoding.ValueType(encoding),
                more=index < last,
                continuation=index > 0,
                **(fields if index == 0 else {}),  # type: ignore[arg-type]  # keywords of Message
            ),
            piece,
        )
        for index, piece in enumerate(pieces)
    ]


class Assembler:
    """Joins the pieces of split payloads, per (peer, call, kind)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int, int], tuple[pb.Message, list[bytes]]] = {}

    def feed(self, msg: pb.Message) -> tuple[pb.Message, bytes] | None:
        """The first piece (with the headers) and the whole payload, once the last piece is in."""
        if not msg.more and not msg.continuation:
            return msg, msg.payload
        key = (msg.peer, msg.call_id, msg.kind)
        if not msg.continuation:
            self._parts[key] = (msg, [msg.payload])
            return None
        entry = self._parts.get(key)
        if entry is None:
            return None  # the start was lost with a previous connection
        entry[1].append(msg.payload)
        if msg.more:
            return None
        del self._parts[key]
        return entry[0], b"".join(entry[1])

    def drop(self, peer: str | None = None, call_id: int | None = None) -> None:
        """Forget partial payloads: all of them, one peer's, or one call's."""
        for key in [k for k in self._parts if (peer is None or k[0] == peer) and (call_id is None or k[1] == call_id)]:
            del self._parts[key]
