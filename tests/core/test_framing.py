"""Hand-written batches parse to what protobuf would have built, and forwarding changes only ``peer``."""

from __future__ import annotations

from daffi_core import framing
from daffi_core.proto import daffi_pb2 as pb
from hypothesis import given, settings
from hypothesis import strategies as st

M = pb.Message

headers = st.builds(
    M,
    kind=st.sampled_from([M.CALL, M.ITEM, M.REPLY, M.YIELD, M.CANCEL]),
    call_id=st.integers(0, 2**64 - 1),
    peer=st.text(max_size=20),
    more=st.booleans(),
    continuation=st.booleans(),
    count=st.integers(0, 2**64 - 1),
    head=st.builds(pb.CallHead, name=st.text(max_size=20), timeout=st.floats(0, 1e6)),
)
payloads = st.binary(max_size=300) | st.integers(0, 70_000).map(lambda n: bytes(range(256)) * (n // 256))


def _with_payload(header: M, payload: bytes) -> M:
    whole = M()
    whole.CopyFrom(header)
    whole.payload = payload
    return whole


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(headers, payloads), min_size=1, max_size=6), st.text(max_size=30))
def test_encoded_batches_parse_and_forward_unchanged_but_for_peer(messages: list[tuple[M, bytes]], peer: str) -> None:
    raw = framing.batch([framing.message(header, payload) for header, payload in messages])
    parsed = pb.Batch.FromString(raw)
    expected = [_with_payload(header, payload) for header, payload in messages]
    assert [frame.message for frame in parsed.frames] == expected
    views = framing.message_views(raw)
    assert views is not None and len(views) == len(messages) and all(v is not None for v in views)

    forwarded = pb.Batch.FromString(framing.batch([framing.forward(view, peer) for view in views if view is not None]))
    for original, frame in zip(expected, forwarded.frames, strict=True):
        original.peer = peer
        assert frame.message == original


def test_control_frames_round_trip() -> None:
    hello = pb.Frame(hello=pb.Hello(protocol_version=1, process_name="n"))
    raw = framing.batch([framing.frame(hello), framing.message(M(kind=M.END, call_id=3))])
    parsed = pb.Batch.FromString(raw)
    assert parsed.frames[0] == hello
    assert parsed.frames[1].message == M(kind=M.END, call_id=3)
    assert framing.message_views(raw) == [
        None,
        memoryview(pb.Frame(message=M(kind=M.END, call_id=3)).message.SerializeToString()),
    ]


def test_layouts_protobuf_accepts_but_forwarding_cannot_use_are_left_to_protobuf() -> None:
    msg = pb.Frame(message=M(kind=M.CALL, call_id=1, payload=b"x")).SerializeToString()
    unknown_field = framing.batch([framing.frame(pb.Frame())]) + b"\x10\x01"  # Batch field 2 as a varint
    assert len(pb.Batch.FromString(unknown_field).frames) == 1
    assert framing.message_views(unknown_field) is None
    twice = msg + msg  # a frame with its message field twice: protobuf merges them
    raw = b"\x0a" + framing.varint(len(twice)) + twice
    assert len(pb.Batch.FromString(raw).frames) == 1
    assert framing.message_views(raw) == [None]
    assert framing.message_views(b"\x0a\x05ab") is None  # truncated


def test_varint_matches_protobuf() -> None:
    for value in (0, 1, 127, 128, 300, 2**32, 2**64 - 1):
        assert pb.Message.FromString(b"\x10" + framing.varint(value)).call_id == value
