"""The live catalogue for humans (a table) and tools (JSON)."""

from __future__ import annotations

import json

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import render

from daffi_codegen.render import lock_of

__all__ = ["as_json", "as_table"]


def as_table(nodes: list[pb.NodeInfo]) -> str:
    rows = [("PROCESS", "CALLBACK", "SIGNATURE", "DOC")]
    for node in nodes:
        for sig in sorted(node.callbacks, key=lambda c: c.name):
            rows.append((node.process_name, sig.name, render(sig), sig.doc.splitlines()[0] if sig.doc else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join([*(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])), row[3]]).rstrip() for row in rows
    )


def as_json(nodes: list[pb.NodeInfo]) -> str:
    return json.dumps(lock_of(nodes)["processes"], indent=2, sort_keys=True)
