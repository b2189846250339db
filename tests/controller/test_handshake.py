"""The wire handshake, spoken directly (tests/support/raw.py) against a real controller process, on each transport."""

from __future__ import annotations

import time

import pytest
from daffi import FG, Global, InitializationError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import PROTOCOL_VERSION

from tests.support import raw
from tests.support.procs import Procs, Where
from tests.support.raw import hello

P = pb.Parameter


def only_reject(answers: list[pb.Batch]) -> pb.Reject:
    frames = [f for b in answers for f in b.frames]
    assert len(frames) == 1, frames
    assert frames[0].HasField("reject"), frames
    return frames[0].reject


def test_protocol_mismatch(controller: Where) -> None:
    reject = only_reject(raw.exchange(controller, hello("old-node", 999)))
    assert reject.reason == pb.Reject.PROTOCOL_MISMATCH
    assert "999" in reject.message
    assert f"protocol {PROTOCOL_VERSION}" in reject.message, reject.message


def test_first_frame_not_hello(controller: Where) -> None:
    batch = pb.Batch(frames=[pb.Frame(callbacks=pb.CallbackList())])
    reject = only_reject(raw.exchange(controller, batch))
    assert reject.reason == pb.Reject.BAD_HELLO
    assert reject.message


def test_first_frame_is_a_message(controller: Where) -> None:
    call = pb.Message(kind=pb.Message.CALL, call_id=1, head=pb.CallHead(name="add"))
    reject = only_reject(raw.exchange(controller, pb.Batch(frames=[pb.Frame(message=call)])))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_empty_first_batch(controller: Where) -> None:
    reject = only_reject(raw.exchange(controller, pb.Batch()))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_empty_process_name(controller: Where) -> None:
    reject = only_reject(raw.exchange(controller, hello("")))
    assert reject.reason == pb.Reject.BAD_HELLO


def test_welcome_lists_other_nodes(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    answers = raw.exchange(controller, hello("raw"))
    welcome = answers[0].frames[0]
    assert welcome.HasField("welcome"), answers
    assert welcome.welcome.protocol_version == PROTOCOL_VERSION
    assert [n.process_name for n in welcome.welcome.nodes] == ["svc"]


def test_rejected_then_valid_stream_is_accepted(controller: Where) -> None:
    """A refused stream leaves no trace: the same name can then join."""
    only_reject(raw.exchange(controller, hello("twice", 999)))
    answers = raw.exchange(controller, hello("twice"))
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


def test_catalog_has_every_node_and_signatures(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with Global(process_name="caller", **controller.kwargs):
        catalog = raw.catalog(controller)
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
        names = {n.process_name for n in raw.catalog(controller).nodes}
        if names == {"svc"}:
            break
        assert time.monotonic() < deadline, names
        time.sleep(0.05)
