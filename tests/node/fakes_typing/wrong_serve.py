"""An implementation that does not fit its stub: mypy --strict rejects it (see test_fakes.py)."""

from __future__ import annotations

from daffi.testing import fake_nodes

from stubs.worker import process_item

with fake_nodes() as nodes:
    nodes.add("worker").serve(process_item, lambda x: x + 1)
