"""Hostile and broken input: the controller stays up, other nodes keep working, the offender gets an error.

Figures (how many inputs were tried) are printed as FIGURE lines for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time

import pytest
from daffi import FG, Global
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CONNECT_METHOD
from daffi_core.transport import Code
from daffi_core.transport.socket.wire import HEADER, MAGIC, Kind, frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import raw
from tests.support.procs import Procs, Where

M = pb.Message


def _still_serving(where: Where) -> None:
    with Global(process_name="checker", connect_timeout=10, **where.kwargs) as g:
        assert g.call.add(40, 2) & FG == 42


def _openings(where: Where) -> list[bytes]:
    """Valid starts of a connection on ``where``'s transport, for garbage to follow."""
    if where.carrier == "grpc":
        return [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]
    opened = MAGIC + frame(Kind.OPEN, pb.Open(method=CONNECT_METHOD).SerializeToString())
    return [MAGIC, opened, opened + raw.hello("x").SerializeToString()]


def test_random_and_truncated_bytes_on_the_socket(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    rng = random.Random(1234)
    openings = _openings(controller)
    tried = 0
    for i in range(300):
        blob = rng.randbytes(rng.choice([0, 1, 9, 24, 100, 4096, 65536]))
        opening = rng.choice(openings)
        if i % 3 == 0:
            blob = opening + blob  # a valid start, then garbage frames
        elif i % 3 == 1:
            blob = opening[: rng.randrange(len(opening))]  # truncated
        family = socket.AF_UNIX if controller.unix_sock_path else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(controller.unix_sock_path or (controller.host, controller.port))
            try:
                s.sendall(blob)
            except OSError:
                pass  # the controller may hang up first: that is fine
        tried += 1
    print(f"FIGURE bad-bytes: {tried} connections of random or truncated bytes, controller still serving")
    _still_serving(controller)


frames = st.one_of(
    st.builds(
        lambda kind, call_id, peer, payload, more, cont, name, fanout, target: pb.Frame(
            message=M(
                kind=kind,
                call_id=call_id,
                peer=peer,
                payload=payload,
                more=more,
                continuation=cont,
                head=pb.CallHead(name=name, fanout=fanout, target=target),
            )
        ),
        kind=st.integers(min_value=0, max_value=20),
        call_id=st.integers(min_value=0, max_value=2**64 - 1),
        peer=st.sampled_from(["", "svc", "nobody", "fuzzer", "x" * 300]),
        payload=st.binary(max_size=256),
        more=st.booleans(),
        cont=st.booleans(),
        name=st.sampled_from(["", "add", "hang", "nope", "\x00\xff"]),
        fanout=st.integers(min_value=0, max_value=3),
        target=st.sampled_from(["", "svc", "fuzzer", "ghost"]),
    ),
    st.builds(
        lambda n: pb.Frame(callbacks=pb.CallbackList(callbacks=[pb.CallbackSignature(name=f"f{i}") for i in range(n)])),
        st.integers(0, 2000),
    ),
    st.builds(lambda v: pb.Frame(hello=pb.Hello(protocol_version=v, process_name="again")), st.integers(0, 5)),
    st.builds(lambda: pb.Frame(welcome=pb.Welcome())),
    st.builds(lambda: pb.Frame(node_left=pb.NodeLeft(process_name="svc"))),
)


def test_hostile_frames_after_a_valid_hello(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    tried = 0

    def send(batch: list[pb.Frame]) -> None:
        with raw.joined(controller, "fuzzer") as stream:
            stream.send(pb.Batch(frames=batch))
            with contextlib.suppress(raw.Ended):  # the controller may end the stream: that is fine
                stream.finish()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(frames, min_size=1, max_size=20))
    def fuzz(batch: list[pb.Frame]) -> None:
        nonlocal tried
        send(batch)
        tried += len(batch)

    fuzz()
    print(f"FIGURE hostile-frames: {tried} generated frames in 60 streams, controller still serving")
    _still_serving(controller)


def test_oversized_message_is_refused_and_others_keep_working(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    huge = M(kind=M.CALL, call_id=1, payload=os.urandom(20 * 1024 * 1024), head=pb.CallHead(name="add"))
    batch = pb.Batch(frames=[pb.Frame(message=huge)]).SerializeToString()
    with raw.joined(controller, "big", options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]) as stream:
        if isinstance(stream, raw.SocketStream):  # frame() itself refuses that size: a hand-made header
            stream.send_raw(HEADER.pack(Kind.DATA, len(batch)) + batch[:1024])
        else:
            stream.send(batch)
        with pytest.raises(raw.Ended) as ended:
            stream.finish()
    assert ended.value.code == Code.RESOURCE_EXHAUSTED, ended.value
    _still_serving(controller)


def test_silent_stream_is_closed_after_the_hello_timeout(procs: Procs, where: Where) -> None:
    procs.controller(where, "--hello-timeout", "1")
    with raw.connect(where) as stream:
        started = time.monotonic()
        reply = stream.read()
        took = time.monotonic() - started
    assert reply is not None and reply.frames[0].reject.reason == pb.Reject.BAD_HELLO
    assert "no Hello within 1 s" in reply.frames[0].reject.message
    assert 0.5 < took < 5


# Regressions of what the coverage-guided fuzzer found (chaos/fuzz_target.py, docs/reliability-fuzz.md).


def test_undecodable_batch_after_hello_ends_that_stream_only(procs: Procs, controller: Where) -> None:
    """Bytes that are not a Batch used to fail the reader as an internal error: traceback, OK status."""
    procs.service(controller, "svc")
    with raw.joined(controller, "garbler") as stream:
        stream.send(b"\xff\xff\xff\xff")
        with pytest.raises(raw.Ended) as ended:
            stream.finish()
    assert ended.value.code == Code.INVALID_ARGUMENT, ended.value
    assert "not a daffi Batch" in ended.value.details
    _still_serving(controller)


def test_undecodable_first_message_is_rejected(procs: Procs, controller: Where) -> None:
    """It used to escape the handler: gRPC logged an unexpected error and ended the call with UNKNOWN."""
    with raw.connect(controller) as stream:
        stream.send(b"\x0a\x05\x0a")  # a frame longer than the message
        reply = stream.read()
    assert reply is not None and reply.frames[0].reject.reason == pb.Reject.BAD_HELLO
    assert "not a daffi Batch" in reply.frames[0].reject.message
    procs.service(controller, "svc")
    _still_serving(controller)


def test_burst_of_error_replies_stays_under_the_message_limit(procs: Procs, controller: Where) -> None:
    """Each "no node offers" error lists every callback of the other nodes; the outbox counted only payload
    bytes, so 300 such calls in one batch (5 KB) came back as one 12.9 MB batch, over gRPC's 8 MiB limit,
    and the caller's stream died with RESOURCE_EXHAUSTED."""
    procs.service(controller, "svc")
    calls = 300
    offers = [f"callback_number_{i:04}" for i in range(2000)]
    with raw.joined(controller, "many", offers), raw.joined(controller, "caller") as caller:
        frames = [pb.Frame(message=M(kind=M.CALL, call_id=i, head=pb.CallHead(name="nope"))) for i in range(calls)]
        caller.send(pb.Batch(frames=frames))
        replies = caller.messages(calls)
    assert len(replies) == calls
    assert {r.error.kind for r in replies} == {pb.Error.UNKNOWN_CALLBACK}
    _still_serving(controller)


class _Stream:
    """The servicer's side of one node's stream, in-process; ``writable`` cleared = a node that reads nothing."""

    def __init__(self, *batches: pb.Batch) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        for batch in batches:
            self.send(batch)
        self.writable = asyncio.Event()
        self.writable.set()

    def send(self, batch: pb.Batch) -> None:
        self.inbox.put_nowait(batch.SerializeToString())

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        await self.writable.wait()

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


def test_frames_of_a_node_that_has_left_are_not_dispatched() -> None:
    """A leaving node's handler drains its writer for up to 2 s; its reader used to dispatch meanwhile: callbacks
    it announced were offered again though it was gone (and picking them raised KeyError), its calls were routed."""
    from daffi_controller.grpc_service import ControllerServicer

    async def scenario() -> None:
        servicer = ControllerServicer()
        slow = _Stream(raw.hello("slow", callbacks=["add"]))
        slow.writable.clear()  # its writer hangs in the Welcome write
        other = _Stream(raw.hello("other"))
        tasks = [asyncio.create_task(servicer.Connect(s, s)) for s in (slow, other)]  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        servicer.close()  # both leave; the slow one's handler now waits for its writer
        await asyncio.sleep(0.05)
        assert not servicer.registry.nodes
        slow.send(pb.Batch(frames=[pb.Frame(callbacks=pb.CallbackList(callbacks=[pb.CallbackSignature(name="add")]))]))
        call = M(kind=M.CALL, call_id=1, head=pb.CallHead(name="add", target="other"))
        slow.send(pb.Batch(frames=[pb.Frame(message=call)]))
        await asyncio.sleep(0.05)
        assert servicer.registry.offering("add", "other") == []
        assert servicer.router.open_calls == 0
        slow.writable.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)

    asyncio.run(scenario())
