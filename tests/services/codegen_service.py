"""A node whose callbacks exercise daffi-codegen. Prints ``READY <name>`` once connected.

Run: python codegen_service.py --name NAME (--host H --port P | --unix-sock-path S)
     [--add-required] [--greet-optional] [--drop-shout]

The flags change the announced callbacks the way a new release of a service would: ``--add-required``
gives ``add`` a third required parameter (breaking), ``--greet-optional`` gives ``greet`` a new
optional parameter (compatible), ``--drop-shout`` removes the ``shout`` callback (breaking).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable, Iterator
from typing import Any, Literal

from codegen_models import Color, Point
from daffi import Global, callback
from node_main import options, serve

parser = options(__doc__)
parser.add_argument("--add-required", action="store_true", help="add(a, b, c): a new required parameter")
parser.add_argument("--greet-optional", action="store_true", help="greet(..., times=1): a new optional parameter")
parser.add_argument("--drop-shout", action="store_true", help="do not register shout")
args = parser.parse_args()
NAME: str = args.name


class Sentinel:
    """A default value with no literal form."""

    def __repr__(self) -> str:
        return "<sentinel>"


SENTINEL = Sentinel()


class LocalThing:
    """Defined in the service script (``__main__``): a client cannot import it."""


if args.add_required:

    @callback
    def add(a: int, b: int, c: int) -> int:
        """Add the integers."""
        return a + b + c

else:

    @callback
    def add(a: int, b: int) -> int:  # type: ignore[misc]  # another release's signature
        """Add the integers."""
        return a + b


if args.greet_optional:

    @callback
    def greet(name: str, punctuation: str = "!", times: int = 1) -> str:
        return f"Hello, {name}{punctuation * times}"

else:

    @callback
    def greet(name: str, punctuation: str = "!") -> str:  # type: ignore[misc]  # another release's signature
        return f"Hello, {name}{punctuation}"


@callback
def stats(values: list[float]) -> dict[str, float]:
    """Minimum, maximum and mean of ``values``.

    Multi-line docstrings survive codegen.
    """
    return {"min": min(values), "max": max(values), "mean": sum(values) / len(values)}


@callback
def maybe(x: int | None = None) -> str | None:
    return None if x is None else str(x)


@callback
async def async_double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@callback
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


@callback
def norm(p: Point) -> float:
    return float((p.x**2 + p.y**2) ** 0.5)


@callback
def paint(color: Color, mode: Literal["fill", "stroke"] = "fill") -> str:
    return f"{mode} {color.value}"


@callback
def apply(fn: Callable[[int], int], x: int) -> int:
    return fn(x)


@callback
def later(delay: datetime.timedelta = datetime.timedelta(seconds=1), marker: object = SENTINEL) -> float:
    return delay.total_seconds()


@callback
def kinds(a: int, /, b: str, *rest: int, flag: bool = False, **extra: str) -> str:
    return f"{a}|{b}|{list(rest)}|{flag}|{sorted(extra.items())}"


@callback
def keyword_only(*, key: str, limit: int = 10) -> str:
    return f"{key}:{limit}"


@callback
def unresolved(x: NotDefinedAnywhere) -> AlsoMissing:  # type: ignore[name-defined]  # noqa: F821  # on purpose
    return x


@callback
def local_type(thing: LocalThing) -> Any:
    return None


@callback
def whoami(g: Global) -> str:
    """Answers with the node's own process name (``g`` is injected, not announced)."""
    return g.process_name


if not args.drop_shout:

    @callback
    def shout(text: str) -> str:
        return text.upper()


if __name__ == "__main__":
    serve(args)
