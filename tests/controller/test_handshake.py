"""The wire handshake, spoken directly with the generated stub against a real controller process."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from daffi import FG, Global, InitializationError
from daffi_core.address import Address
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.proto import daffi_pb2_grpc
from daffi_core.protocol import PROTOCOL_VERSION

from tests.support.procs import Procs, Where

P = pb.Parameter


def target(where: Where) -> str:
    return Address.resolve(where.host, where.port, where.unix_sock_path).target


@pytest.fixture
def stub(controller: Where) -> Iterator[daffi_pb2_grpc.ControllerStub]:
    with grpc.insecure_channel(target(controller)) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield daffi_pb2_grpc.ControllerStub(channel)


def exchange(stub: daffi_pb2_grpc.ControllerStub, *batches: pb.Batch) -> list[pb.Batch]:
    """Send ``batches`` then half-close; everything the controller answers before it ends the stream."""
    return list(stub.Connect(iter(batches), timeout=10))


def hello(name: str = "raw", version: int = PROTOCOL_VERSION) -> pb.Batch:
    return pb.Batch(frames=[pb.Frame(hello=pb.Hello(protocol_version=version, process_name=name))])


def only_reject(answers: list[pb.Batch]) -> pb.Reject:
    frames = [f for b in answers for f in b.frames]
    assert len(frames) == 1, frames
    assert frames[0].HasField("reject"), frames
    return frames[0].reject


def test_protocol_mismatch(stub: daffi_pb2_grpc.ControllerStub) -> None:
    reject = only_reject(exchange(stub, hello("old-node", 999)))
    assert reject.reason == pb.Reject.PROTOCOL_MISMATCH
    assert "999" in reject.message
    assert f"protocol {PROTOCOL_VERSION}" in reject.message, reject.message


def test_first_frame_not_hello(stub: daffi_pb2_grpc.ControllerStub) -> None:
    batch = pb.Batch(frames=[pb.Frame(callbacks=pb.CallbackList())])
    reject = only_reject(exchange(stub, batch))
    assert reject.reason == pb.Reject.BAD_HELLO
    assert reject.message


def test_first_frame_is_a_message(stub: daffi_pb2_grpc.ControllerStub) -> None:
    call = pb.Message(kind=pb.Message.CALL, call_id=1, head=pb.CallHead(name="add"))
    reject = only_reject(exchange(stub, pb.Batch(frames=[pb.Frame(message=call)])))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_empty_first_batch(stub: daffi_pb2_grpc.ControllerStub) -> None:
    reject = only_reject(exchange(stub, pb.Batch()))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_empty_process_name(stub: daffi_pb2_grpc.ControllerStub) -> None:
    reject = only_reject(exchange(stub, hello("")))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_welcome_lists_other_nodes(procs: Procs, controller: Where, stub: daffi_pb2_grpc.ControllerStub) -> None:
    procs.service(controller, "svc")
    answers = exchange(stub, hello("raw"))
    welcome = answers[0].frames[0]
    assert welcome.HasField("welcome"), answers
    assert welcome.welcome.protocol_version == PROTOCOL_VERSION
    assert [n.process_name for n in welcome.welcome.nodes] == ["svc"]


def test_rejected_then_valid_stream_is_accepted(stub: daffi_pb2_grpc.ControllerStub) -> None:
    """A refused stream leaves no trace: the same name can then join."""
    only_reject(exchange(stub, hello("twice", 999)))
    answers = exchange(stub, hello("twice"))
    assert answers[0].frames[0].HasField("welcome"), answers


def test_duplicate_process_name(procs: Procs, controller: Where) -> None:
    procs.service(controller, "dup")
    began = time.monotonic()
    with pytest.raises(InitializationError) as info:
        Global(process_name="dup", connect_timeout=10, **controller.kwargs)
    assert time.monotonic() - began < 5, "a refusal must not wait for the connect timeout"
    assert "dup" in str(info.value)
    # The refused Global released this process: another one starts and works.
    with Global(process_name="not-dup", **controller.kwargs) as g:
        assert g.call.whoami() & FG == "dup"


def test_catalog_has_every_node_and_signatures(
    procs: Procs, controller: Where, stub: daffi_pb2_grpc.ControllerStub
) -> None:
    procs.service(controller, "svc")
    with Global(process_name="caller", **controller.kwargs):
        catalog = stub.GetCatalog(pb.CatalogRequest(), timeout=10)
        nodes = {n.process_name: {c.name: c for c in n.callbacks} for n in catalog.nodes}
        assert set(nodes) == {"svc", "caller"}
        svc = nodes["svc"]
        assert {"add", "whoami", "slow", "hang", "count_up", "async_add"} <= set(svc)

        add = svc["add"]
        assert [(p.name, p.kind, p.annotation.text, p.has_default) for p in add.parameters] == [
            ("a", P.POSITIONAL_OR_KEYWORD, "int", False),
            ("b", P.POSITIONAL_OR_KEYWORD, "int", False),
        ]
        assert add.HasField("returns") and add.returns.text == "int"
        assert not add.is_async and not add.is_generator and not add.takes_g

        assert svc["whoami"].returns.text == "str" and not svc["whoami"].parameters
        assert [(p.name, p.annotation.text) for p in svc["slow"].parameters] == [("seconds", "float")]
        assert svc["async_add"].is_async
        assert svc["count_up"].is_generator
        collect = {p.name: p for p in svc["collect"].parameters}
        assert collect["b"].has_default and collect["b"].default == "None"
        # The injected ``g`` parameter is not announced.
        onward = svc["call_onward"]
        assert onward.takes_g and [p.name for p in onward.parameters] == ["name"]

    # The caller left: the catalog follows.
    deadline = time.monotonic() + 10
    while True:
        names = {n.process_name for n in stub.GetCatalog(pb.CatalogRequest(), timeout=10).nodes}
        if names == {"svc"}:
            break
        assert time.monotonic() < deadline, names
        time.sleep(0.05)
