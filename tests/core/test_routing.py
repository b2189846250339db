"""daffi_core.offers and daffi_core.routing: who offers what, and where a call goes.

The controller's router and a NATS node's link both route with these; the controller's registry
holds the caller too (it is excluded), a NATS node's directory holds only the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from daffi_core.offers import Offers
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.routing import Refused, targets


@dataclass(eq=False)
class Node:
    name: str
    callbacks: dict[str, pb.CallbackSignature] = field(default_factory=dict)


def _offers(*nodes: tuple[str, list[str]]) -> Offers[Node]:
    offers: Offers[Node] = Offers()
    for name, callbacks in nodes:
        offers.add(Node(name), [pb.CallbackSignature(name=c) for c in callbacks])
    return offers


def _names(found: list[Node] | Refused) -> list[str]:
    assert not isinstance(found, Refused), found
    return [node.name for node in found]


def _refused(found: list[Node] | Refused) -> Refused:
    assert isinstance(found, Refused), found
    return found


#: The same rules whether the caller is among the offers (a controller) or not (a NATS node).
CALLER_HELD = pytest.mark.parametrize("held", [True, False], ids=["controller", "nats"])


@CALLER_HELD
def test_one_goes_round_robin_all_goes_to_every_other_node(held: bool) -> None:
    offers = _offers(("n1", ["add"]), ("n2", ["add", "echo"]), *([("me", ["add"])] if held else []))
    one = pb.CallHead(name="add")
    assert [_names(targets(offers, one, "me", set)) for _ in range(3)] == [["n1"], ["n2"], ["n1"]]
    assert _names(targets(offers, pb.CallHead(name="add", fanout=pb.CallHead.ALL), "me", set)) == ["n1", "n2"]
    assert _names(targets(offers, pb.CallHead(name="echo", target="n2"), "me", set)) == ["n2"]


@CALLER_HELD
def test_refusals_name_the_reason_and_what_others_offer(held: bool) -> None:
    offers = _offers(("n1", ["add"]), ("n2", ["add", "echo"]), *([("me", ["mine"])] if held else []))
    wrong = _refused(targets(offers, pb.CallHead(name="echo", target="n1"), "me", set))
    assert wrong.kind == pb.Error.UNKNOWN_CALLBACK and "node 'n1' has no callback 'echo'" in wrong.message
    back = _refused(targets(offers, pb.CallHead(name="add", target="me"), "me", set))
    assert back.kind == pb.Error.NO_SUCH_NODE and "a call never goes back to the caller" in back.message
    assert "(other nodes: n1, n2)" in back.message
    gone = _refused(targets(offers, pb.CallHead(name="add", target="ghost"), "me", set))
    assert "it is not connected" in gone.message
    only = _refused(targets(offers, pb.CallHead(name="mine"), "me", lambda: {"mine"}))
    assert "only the calling node offers it" in only.message
    assert "process: n2\n  - [ add, echo ]" in only.message and "process: me" not in only.message
    typo = _refused(targets(offers, pb.CallHead(name="ech"), "me", set))
    assert "'echo'" in typo.message  # the closest name is suggested


def test_changed_and_removed_nodes_leave_the_offers() -> None:
    offers = _offers(("n1", ["add", "echo"]), ("n2", ["add"]))
    n1 = offers.nodes["n1"]
    offers.set_callbacks(n1, [pb.CallbackSignature(name="add")])
    assert offers.offering("echo") == [] and offers.pick("echo") is None
    assert not offers.remove(Node("n1"))  # another record of the same name: not the one held
    assert offers.remove(n1) and [i.process_name for i in offers.infos()] == ["n2"]
    assert offers.describe_offers("n2") == "(no other node is connected)"
