"""Hostile and broken input: the controller stays up, other nodes keep working, the offender gets an error.

Figures (how many inputs were tried) are printed as FIGURE lines for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time

import grpc
from daffi import FG, Global
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.proto import daffi_pb2_grpc as pb_grpc
from daffi_core.protocol import PROTOCOL_VERSION
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.procs import Procs, Where

M = pb.Message


def _target(where: Where) -> str:
    return f"unix:{where.unix_sock_path}" if where.unix_sock_path else f"{where.host}:{where.port}"


def _still_serving(where: Where) -> None:
    with Global(process_name="checker", connect_timeout=10, **where.kwargs) as g:
        assert g.call.add(40, 2) & FG == 42


def test_random_and_truncated_bytes_on_the_socket(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    rng = random.Random(1234)
    http2_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    tried = 0
    for i in range(300):
        blob = rng.randbytes(rng.choice([0, 1, 9, 24, 100, 4096, 65536]))
        if i % 3 == 0:
            blob = http2_preface + blob  # a valid start, then garbage frames
        elif i % 3 == 1:
            blob = http2_preface[: rng.randrange(len(http2_preface))]  # truncated
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

    async def send(batch: list[pb.Frame]) -> None:
        async with grpc.aio.insecure_channel(_target(controller)) as channel:
            call = pb_grpc.ControllerStub(channel).Connect()
            hello = pb.Hello(protocol_version=PROTOCOL_VERSION, process_name="fuzzer")
            await call.write(pb.Batch(frames=[pb.Frame(hello=hello)]))
            assert (await asyncio.wait_for(call.read(), 10)).frames[0].HasField("welcome")
            await call.write(pb.Batch(frames=batch))
            await call.done_writing()
            try:
                while await asyncio.wait_for(call.read(), 10) is not grpc.aio.EOF:
                    pass
            except (grpc.aio.AioRpcError, asyncio.TimeoutError):
                pass

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(frames, min_size=1, max_size=20))
    def fuzz(batch: list[pb.Frame]) -> None:
        nonlocal tried
        asyncio.run(send(batch))
        tried += len(batch)

    fuzz()
    print(f"FIGURE hostile-frames: {tried} generated frames in 60 streams, controller still serving")
    _still_serving(controller)


def test_oversized_message_is_refused_and_others_keep_working(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")

    async def oversized() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(
            _target(controller), options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        ) as channel:
            call = pb_grpc.ControllerStub(channel).Connect()
            hello = pb.Hello(protocol_version=PROTOCOL_VERSION, process_name="big")
            await call.write(pb.Batch(frames=[pb.Frame(hello=hello)]))
            await call.read()
            huge = M(kind=M.CALL, call_id=1, payload=os.urandom(20 * 1024 * 1024), head=pb.CallHead(name="add"))
            try:
                await call.write(pb.Batch(frames=[pb.Frame(message=huge)]))
                while await asyncio.wait_for(call.read(), 10) is not grpc.aio.EOF:
                    pass
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

    assert asyncio.run(oversized()) == grpc.StatusCode.RESOURCE_EXHAUSTED
    _still_serving(controller)


def test_silent_stream_is_closed_after_the_hello_timeout(procs: Procs, where: Where) -> None:
    procs.controller(where, "--hello-timeout", "1")

    async def silent() -> tuple[pb.Batch | None, float]:
        async with grpc.aio.insecure_channel(_target(where)) as channel:
            call = pb_grpc.ControllerStub(channel).Connect()
            started = time.monotonic()
            first = await asyncio.wait_for(call.read(), 10)
            return (first if isinstance(first, pb.Batch) else None), time.monotonic() - started

    reply, took = asyncio.run(silent())
    assert reply is not None and reply.frames[0].reject.reason == pb.Reject.BAD_HELLO
    assert "no Hello within 1 s" in reply.frames[0].reject.message
    assert 0.5 < took < 5


# Regressions of what the coverage-guided fuzzer found (chaos/fuzz_target.py, docs/reliability-fuzz.md).

_CONNECT = "/daffi.v1.Controller/Connect"


def _hello(name: str, callbacks: list[pb.CallbackSignature] | None = None) -> pb.Batch:
    hello = pb.Hello(protocol_version=PROTOCOL_VERSION, process_name=name, callbacks=callbacks)
    return pb.Batch(frames=[pb.Frame(hello=hello)])


def test_undecodable_batch_after_hello_ends_that_stream_only(procs: Procs, controller: Where) -> None:
    """Bytes that are not a Batch used to fail the reader as an internal error: traceback, OK status."""
    procs.service(controller, "svc")

    async def garbage() -> tuple[grpc.StatusCode, str]:
        async with grpc.aio.insecure_channel(_target(controller)) as channel:
            call = channel.stream_stream(_CONNECT)()  # no serializers: bytes as they are
            await call.write(_hello("garbler").SerializeToString())
            welcome = pb.Batch.FromString(await asyncio.wait_for(call.read(), 10))
            assert welcome.frames[0].HasField("welcome")
            await call.write(b"\xff\xff\xff\xff")
            try:
                while await asyncio.wait_for(call.read(), 10) is not grpc.aio.EOF:
                    pass
            except grpc.aio.AioRpcError as exc:
                return exc.code(), exc.details() or ""
            return grpc.StatusCode.OK, ""

    code, details = asyncio.run(garbage())
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "not a daffi Batch" in details
    _still_serving(controller)


def test_undecodable_first_message_is_rejected(procs: Procs, controller: Where) -> None:
    """It used to escape the handler: gRPC logged an unexpected error and ended the call with UNKNOWN."""

    async def garbage_first() -> pb.Batch:
        async with grpc.aio.insecure_channel(_target(controller)) as channel:
            call = channel.stream_stream(_CONNECT)()
            await call.write(b"\x0a\x05\x0a")  # a frame longer than the message
            return pb.Batch.FromString(await asyncio.wait_for(call.read(), 10))

    reply = asyncio.run(garbage_first())
    assert reply.frames[0].reject.reason == pb.Reject.BAD_HELLO
    assert "not a daffi Batch" in reply.frames[0].reject.message
    procs.service(controller, "svc")
    _still_serving(controller)


def test_burst_of_error_replies_stays_under_the_message_limit(procs: Procs, controller: Where) -> None:
    """Each "no node offers" error lists every callback of the other nodes; the outbox counted only payload
    bytes, so 300 such calls in one batch (5 KB) came back as one 12.9 MB batch, over gRPC's 8 MiB limit,
    and the caller's stream died with RESOURCE_EXHAUSTED."""
    procs.service(controller, "svc")
    calls = 300

    async def burst() -> list[pb.Message]:
        async with grpc.aio.insecure_channel(_target(controller)) as channel:
            stub = pb_grpc.ControllerStub(channel)
            offers = [pb.CallbackSignature(name=f"callback_number_{i:04}") for i in range(2000)]
            server = stub.Connect()
            await server.write(_hello("many", offers))
            await asyncio.wait_for(server.read(), 10)
            caller = stub.Connect()
            await caller.write(_hello("caller"))
            await asyncio.wait_for(caller.read(), 10)
            frames = [pb.Frame(message=M(kind=M.CALL, call_id=i, head=pb.CallHead(name="nope"))) for i in range(calls)]
            await caller.write(pb.Batch(frames=frames))
            replies: list[pb.Message] = []
            while len(replies) < calls:
                batch = await asyncio.wait_for(caller.read(), 10)
                assert isinstance(batch, pb.Batch), batch
                replies += [f.message for f in batch.frames if f.HasField("message")]
            return replies

    replies = asyncio.run(burst())
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


def test_frames_of_a_node_that_has_left_are_not_dispatched() -> None:
    """A leaving node's handler drains its writer for up to 2 s; its reader used to dispatch meanwhile: callbacks
    it announced were offered again though it was gone (and picking them raised KeyError), its calls were routed."""
    from daffi_controller.servicer import ControllerServicer

    async def scenario() -> None:
        servicer = ControllerServicer()
        slow = _Stream(_hello("slow", [pb.CallbackSignature(name="add")]))
        slow.writable.clear()  # its writer hangs in the Welcome write
        other = _Stream(_hello("other"))
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
