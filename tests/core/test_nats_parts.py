"""The NATS transport's pure parts: subject names, chunking, and the node's directory of peers."""

from __future__ import annotations

import pytest
from daffi._nats_peers import Calls, Directory, Known
from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.transport.nats import chunks, subjects


@pytest.mark.parametrize("name", ["svc", "node-1", "a b.c*>%d", "é x", "tab\there", ""])
def test_names_round_trip_through_one_subject_token(name: str) -> None:
    token = subjects.encode_name(name)
    assert not any(c in token for c in " .*>\t")
    assert subjects.decode_name(token) == name
    assert subjects.beat_sender(subjects.beat(name)) == name
    assert subjects.direct(name) == f"daffi.node.{token}"


def test_server_url_needs_a_tcp_address() -> None:
    assert subjects.server_url(Address(host="127.0.0.1", port=4222)) == "nats://127.0.0.1:4222"
    assert subjects.server_url(Address(host="::1", port=4222)) == "nats://[::1]:4222"
    with pytest.raises(InitializationError, match="UNIX socket"):
        subjects.server_url(Address.resolve(None, None, "/tmp/x.sock"))


def test_a_batch_that_fits_travels_whole() -> None:
    (only,) = chunks.split(b"abc", "me", 1 << 20)
    assert chunks.Joiner().feed(only) == b"abc"


def test_big_batches_are_split_and_joined_per_sender() -> None:
    big_a = bytes(range(256)) * 20_000  # 5 MB
    big_b = b"b" * 3_000_000
    pieces_a = chunks.split(big_a, "a", 1 << 20)
    pieces_b = chunks.split(big_b, "b", 1 << 20)
    assert len(pieces_a) == 5 and all(len(p) <= (1 << 20) for p in pieces_a + pieces_b)
    joiner = chunks.Joiner()
    out = []
    # two senders' pieces interleaved, as they arrive on one subscription
    for a, b in zip(pieces_a, [*pieces_b, None, None], strict=True):
        for piece in (a, b):
            if piece is not None and (whole := joiner.feed(piece)) is not None:
                out.append(whole)
    assert out == [big_b, big_a]


def test_joiner_refuses_foreign_bytes() -> None:
    with pytest.raises(ValueError):
        chunks.Joiner().feed(b"")
    with pytest.raises(ValueError):
        chunks.Joiner().feed(b"\x07junk")


def _sig(name: str) -> pb.CallbackSignature:
    return pb.CallbackSignature(name=name)


def _name(known: Known | None) -> str | None:
    return None if known is None else known.name


def test_directory_round_robin_and_updates() -> None:
    directory = Directory()
    assert directory.update("n1", [_sig("add"), _sig("echo")])
    assert directory.update("n2", [_sig("add")])
    assert [_name(directory.pick("add")) for _ in range(4)] == ["n1", "n2", "n1", "n2"]
    assert [k.name for k in directory.offering("echo")] == ["n1"]
    assert not directory.update("n1", [_sig("add")])  # known: an update
    assert directory.offering("echo") == [] and directory.pick("echo") is None
    assert directory.forget("n2") and not directory.forget("n2")
    assert directory.silent(3600) == [] and directory.seen("n1") and not directory.seen("n2")
    assert [i.process_name for i in directory.infos()] == ["n1"]
    assert "process: n1" in directory.describe_offers()


def test_calls_owed_and_served_when_a_node_vanishes() -> None:
    calls = Calls()
    calls.opened(1, ["a", "b"])
    calls.opened(2, ["b"])
    calls.serving("a", 7)
    calls.replied(1, "a")
    owed, served = calls.gone("b")
    assert owed == [1, 2] and served == []
    assert calls.made == {}
    owed, served = calls.gone("a")
    assert owed == [] and served == [7]
