"""The signature model: what a node announces and what callers rebuild from it."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal, Optional

import pytest
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import annotation, describe, render, to_inspect


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = 1


def add(a: int, b: int = 2, *rest: float, scale: float = 1.0, **extra: str) -> int:
    """Adds."""
    return a + b


def test_describe_keeps_names_kinds_defaults_and_doc() -> None:
    sig = describe(add)
    assert [(p.name, pb.Parameter.Kind.Name(p.kind)) for p in sig.parameters] == [
        ("a", "POSITIONAL_OR_KEYWORD"),
        ("b", "POSITIONAL_OR_KEYWORD"),
        ("rest", "VAR_POSITIONAL"),
        ("scale", "KEYWORD_ONLY"),
        ("extra", "VAR_KEYWORD"),
    ]
    assert [p.default for p in sig.parameters if p.has_default] == ["2", "1.0"]
    assert sig.returns.text == "int"
    assert sig.doc == "Adds."
    assert render(sig) == "def add(a: int, b: int = 2, *rest: float, scale: float = 1.0, **extra: str) -> int"


def test_g_parameter_is_not_announced() -> None:
    def step(x: int, g: Any) -> int:
        return x

    sig = describe(step)
    assert sig.takes_g
    assert [p.name for p in sig.parameters] == ["x"]


def test_async_and_generator_flags() -> None:
    async def a() -> None: ...

    def gen() -> Iterator[int]:
        yield 1

    assert describe(a).is_async and not describe(a).is_generator
    assert describe(gen).is_generator


@pytest.mark.parametrize(
    ("obj", "text", "modules"),
    [
        (list[int], "list[int]", []),
        (dict[str, float], "dict[str, float]", []),
        (Optional[int], "int | None", []),  # noqa: UP045 - the old spelling is what is tested
        (int | None, "int | None", []),
        (Literal["a", 1], "typing.Literal['a', 1]", ["typing"]),
        (Callable[[int], str], "collections.abc.Callable[[int], str]", ["collections.abc"]),
        (Point, f"{__name__}.Point", [__name__]),
        (Color, f"{__name__}.Color", [__name__]),
        (tuple[int, ...], "tuple[int, ...]", []),
        (typing.Any, "typing.Any", ["typing"]),
        (None, "None", []),
    ],
)
def test_annotations_render_as_importable_text(obj: object, text: str, modules: list[str]) -> None:
    out = annotation(obj)
    assert out.text == text
    assert list(out.modules) == modules
    assert not out.unresolved


def test_unresolvable_annotations_say_why() -> None:
    class Local:
        pass

    out = annotation(Local)
    assert out.unresolved and "inside a function" in out.note
    assert annotation("SomeForwardRef").unresolved


def test_rebuilt_signature_binds_like_the_original() -> None:
    rebuilt = to_inspect(describe(add))
    rebuilt.bind(1)
    rebuilt.bind(1, 2, 3.0, scale=2.0, anything="x")
    with pytest.raises(TypeError):
        rebuilt.bind()
    with pytest.raises(TypeError):
        rebuilt.bind(1, scale=1, a=2)
    assert str(rebuilt) == str(
        inspect.signature(add).replace(
            parameters=[
                p.replace(annotation=inspect.Parameter.empty) for p in inspect.signature(add).parameters.values()
            ],
            return_annotation=inspect.Signature.empty,
        )
    )
