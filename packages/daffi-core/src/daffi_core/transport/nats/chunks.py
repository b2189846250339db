"""Messages on a node's direct subject: a whole serialized ``Batch``, or pieces of one.

A NATS server refuses a message above its ``max_payload`` (1 MiB by default), while a daffi
batch can hold several MiB (a payload piece alone is up to ``CHUNK_SIZE``). A batch that does
not fit travels as pieces, in order, on the same subject: NATS keeps the order of one
connection's messages to one subscriber, so the receiver joins them per sender.

The first byte says which: ``WHOLE`` (the rest is the batch), or ``PIECE`` / ``LAST`` followed by
the sender's name (varint length, UTF-8) and a slice of the batch.
"""

from __future__ import annotations

from daffi_core.framing import read_varint, varint

__all__ = ["LAST", "MARGIN", "PIECE", "WHOLE", "Joiner", "split"]

WHOLE = 0
PIECE = 1
LAST = 2
#: Bytes kept free in each message for the NATS protocol line and headers.
MARGIN = 512


def split(batch: bytes, sender: str, max_payload: int) -> list[bytes]:
    """``batch`` as the messages to publish, in order (one when it fits)."""
    if len(batch) + 1 <= max_payload - MARGIN:
        return [bytes([WHOLE]) + batch]
    name = sender.encode()
    head = varint(len(name)) + name
    room = max_payload - MARGIN - 1 - len(head)
    if room <= 0:
        raise ValueError(f"max_payload {max_payload} leaves no room for a piece")
    view = memoryview(batch)
    pieces = []
    for start in range(0, len(batch), room):
        tag = LAST if start + room >= len(batch) else PIECE
        pieces.append(b"".join((bytes([tag]), head, view[start : start + room])))  # one copy of the slice
    return pieces


class Joiner:
    """Joins the pieces each sender publishes into its batches again."""

    def __init__(self) -> None:
        self._parts: dict[str, list[bytes]] = {}

    def feed(self, data: bytes) -> bytes | None:
        """The serialized batch ``data`` completes, or None while pieces are missing.

        Raises ValueError for bytes that are not a message of this layout.
        """
        if not data:
            raise ValueError("an empty message")
        tag = data[0]
        if tag == WHOLE:
            return data[1:]
        if tag not in (PIECE, LAST):
            raise ValueError(f"unknown message tag {tag}")
        size, at = read_varint(data, 1, max_shift=35)  # a name's length: 5 bytes at most
        sender = data[at : at + size].decode("utf-8", "replace")
        parts = self._parts.setdefault(sender, [])
        parts.append(data[at + size :])
        if tag == PIECE:
            return None
        del self._parts[sender]
        return b"".join(parts)

    def forget(self, sender: str) -> None:
        """``sender`` is gone: drop the pieces it left unfinished."""
        self._parts.pop(sender, None)
