"""Implementations that fit their stubs: mypy --strict accepts every line."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from daffi.testing import fake_nodes

from stubs.producer import countdown, naturals
from stubs.receiver import collect
from stubs.trio_callee import slow_square, squares_in_parallel
from stubs.worker import process_item


def count_down(start: int) -> Iterator[int]:
    yield from range(start, 0, -1)


async def square(x: int) -> int:
    return x * x


with fake_nodes() as nodes:
    nodes.add("worker").serve(process_item, lambda x: str(x * 2))
    nodes.add("producer").serve(naturals, itertools.count).serve(countdown, count_down)
    nodes.add("receiver").serve(collect, lambda word, position: None)
    nodes.add("trio-callee").serve(slow_square, square).serve(squares_in_parallel, lambda numbers: numbers)
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = nodes["worker"].calls(process_item)
