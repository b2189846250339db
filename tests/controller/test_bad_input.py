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
