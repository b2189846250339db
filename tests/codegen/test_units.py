"""Pure functions of daffi_codegen: drift classification and module names."""

from __future__ import annotations

import copy
import datetime
import keyword
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from daffi_codegen.drift import classify
from daffi_codegen.render import module_names, render_module
from daffi_core.contract import Change
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import describe

from tests.codegen.conftest import Mypy


def _param(
    name: str, annotation: str | None = "int", default: str | None = None, kind: str = "POSITIONAL_OR_KEYWORD"
) -> dict[str, Any]:
    return {"name": name, "kind": kind, "annotation": annotation, "default": default}


def _lock(**callbacks: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "processes": {"svc": callbacks}}


def _cb(*params: dict[str, Any], returns: str | None = "int", doc: str = "", **flags: bool) -> dict[str, Any]:
    return {
        "parameters": list(params),
        "returns": returns,
        "yields": None,
        "is_async": flags.get("is_async", False),
        "is_generator": flags.get("is_generator", False),
        "doc": doc,
    }


BASE = _lock(add=_cb(_param("a"), _param("b")), greet=_cb(_param("name", "str"), _param("p", "str", "'!'")))


def _changed(**replace: dict[str, Any] | None) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    for name, value in replace.items():
        if value is None:
            del new["processes"]["svc"][name]
        else:
            new["processes"]["svc"][name] = value
    return new


def _as_text(changes: list[Change]) -> list[str]:
    return [str(c) for c in changes]


def test_no_change() -> None:
    assert classify(BASE, copy.deepcopy(BASE)) == []


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (_changed(add=None), ["BREAKING   svc.add: callback removed"]),
        (_changed(shout=_cb(_param("t", "str"))), ["compatible svc.shout: new callback"]),
        (_changed(add=_cb(_param("a"))), ["BREAKING   svc.add: parameter 'b' removed or renamed"]),
        (
            _changed(add=_cb(_param("a"), _param("c"))),
            ["BREAKING   svc.add: parameter 'b' removed or renamed", "BREAKING   svc.add: new required parameter 'c'"],
        ),
        (_changed(add=_cb(_param("b"), _param("a"))), ["BREAKING   svc.add: parameters reordered"]),
        (_changed(add=_cb(_param("a"), _param("b"), _param("c"))), ["BREAKING   svc.add: new required parameter 'c'"]),
        (
            _changed(add=_cb(_param("a"), _param("b"), _param("c", default="0"))),
            ["compatible svc.add: new optional parameter 'c'"],
        ),
        (
            _changed(add=_cb(_param("a"), _param("b"), _param("rest", kind="VAR_POSITIONAL"))),
            ["compatible svc.add: new optional parameter 'rest'"],
        ),
        (
            _changed(add=_cb(_param("a"), _param("b"), _param("kw", kind="VAR_KEYWORD"))),
            ["compatible svc.add: new optional parameter 'kw'"],
        ),
        (
            _changed(greet=_cb(_param("name", "str"), _param("p", "str"))),
            ["BREAKING   svc.greet: parameter 'p' made required"],
        ),
        (
            _changed(add=_cb(_param("a"), _param("b", default="1"))),
            ["compatible svc.add: parameter 'b' got a default"],
        ),
        (
            _changed(greet=_cb(_param("name", "str"), _param("p", "str", "'?'"))),
            ["compatible svc.greet: parameter 'p' default '!' -> '?'"],
        ),
        (
            _changed(add=_cb(_param("a", "float"), _param("b"))),
            ["BREAKING   svc.add: parameter 'a' annotation int -> float"],
        ),
        (
            _changed(add=_cb(_param("a", kind="KEYWORD_ONLY"), _param("b"))),
            ["BREAKING   svc.add: parameter 'a' changed from POSITIONAL_OR_KEYWORD to KEYWORD_ONLY"],
        ),
        (
            _changed(add=_cb(_param("a"), _param("b"), returns="str")),
            ["BREAKING   svc.add: returns annotation int -> str"],
        ),
        (
            _changed(add=_cb(_param("a"), _param("b"), is_async=True)),
            ["BREAKING   svc.add: is_async changed to True"],
        ),
        (_changed(add=_cb(_param("a"), _param("b"), doc="Adds.")), ["compatible svc.add: docstring changed"]),
    ],
)
def test_classify(new: dict[str, Any], expected: list[str]) -> None:
    assert _as_text(classify(BASE, new)) == expected


def test_classify_whole_processes() -> None:
    gone = classify(BASE, {"version": 1, "processes": {}})
    assert _as_text(gone) == ["BREAKING   svc.add: callback removed", "BREAKING   svc.greet: callback removed"]
    assert all(c.breaking for c in gone)
    new = classify({"processes": {}}, BASE)
    assert _as_text(new) == ["compatible svc.add: new callback", "compatible svc.greet: new callback"]
    assert not any(c.breaking for c in new)


def test_module_names_are_valid_unique_identifiers() -> None:
    processes = ["Billing-Service", "billing.service", "billing service", "2fast", "class", "", "__init__", "ünïcode"]
    names = module_names(processes)
    assert set(names) == set(processes)
    assert len(set(names.values())) == len(processes)
    for name in names.values():
        assert name.isidentifier() and not keyword.iskeyword(name) and name != "__init__", name
        assert name == name.lower()
    assert names["2fast"] == "node_2fast"
    assert names["class"] == "class_"
    assert names[""] == "node"
    # collisions get numbered in the order of the sorted process names
    assert [names[p] for p in ("Billing-Service", "billing service", "billing.service")] == [
        "billing_service",
        "billing_service_2",
        "billing_service_3",
    ]
    assert names["__init__"] == "__init___2"


def test_module_names_are_deterministic() -> None:
    processes = ["b-1", "a", "B 1", "b_1"]
    assert module_names(processes) == module_names(reversed(processes))


def test_callbacks_named_like_modules_do_not_shadow_them(tmp_path: Path, mypy: Mypy) -> None:
    def later(  # type: ignore[empty-body]  # only its signature is used
        delay: datetime.timedelta, mode: Literal["a", "b"] = "a"
    ) -> datetime.datetime: ...

    def kinds(x: int) -> typing.Any: ...

    def items(n: int) -> Iterator[int]:
        yield n

    node = pb.NodeInfo(
        process_name="clash",
        callbacks=[describe(later, "datetime"), describe(kinds, "typing"), describe(items, "daffi")],
    )
    (tmp_path / "clash.py").write_text(render_module(node, "stubs"))
    (tmp_path / "client.py").write_text(
        "import datetime as dt\n"
        "from clash import daffi, datetime, typing\n"
        "when: dt.datetime = datetime(dt.timedelta(seconds=1), 'b')\n"
        "first: int = next(iter(daffi(3)))\n"
        "anything = typing(1)\n"
        "datetime(1)  # E: wrong type on purpose\n"
    )
    result = mypy(tmp_path, "clash.py", "client.py")
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "client.py:6:" in errors[0] and "timedelta" in errors[0], result.stdout
