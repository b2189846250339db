"""``daffi-controller inspect``'s output: an ``Inspection`` as text for people and as JSON for tools.

The JSON object's keys are documented in docs/operations.md and only ever added to (``schema``
changes when a key changes meaning or goes away).
"""

from __future__ import annotations

import json
import time
from typing import Any

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import render

__all__ = ["SCHEMA", "as_dict", "as_json", "as_text", "signature"]

#: The version of the JSON object's layout.
SCHEMA = 1


def signature(sig: pb.CallbackSignature) -> str:
    """``add(a: int, b: int) -> int`` (``async fetch(...)`` for a coroutine function)."""
    text = render(sig)
    return "async " + text.removeprefix("async def ") if sig.is_async else text.removeprefix("def ")


def as_dict(inspection: pb.Inspection, address: str, now: float | None = None) -> dict[str, Any]:
    """The inspection as plain values (what ``--json`` prints); ``address``: where it was asked."""
    now = time.time() if now is None else now
    return {
        "schema": SCHEMA,
        "controller": {
            "address": address,
            "version": inspection.controller_version,
            "transport": inspection.transport,
            "started_at": inspection.started_at,
            "uptime_seconds": max(0.0, now - inspection.started_at),
        },
        "nodes": [
            {
                "name": node.process_name,
                "address": node.address,
                "connected_since": node.connected_since,
                "connected_seconds": max(0.0, now - node.connected_since),
                "callbacks": [
                    {
                        "name": sig.name,
                        "signature": signature(sig),
                        "is_async": sig.is_async,
                        "is_generator": sig.is_generator,
                        "doc": sig.doc,
                    }
                    for sig in sorted(node.callbacks, key=lambda s: s.name)
                ],
                "in_flight": dict(sorted((name, n) for name, n in node.in_flight.items() if n)),
            }
            for node in inspection.nodes
        ],
        "calls_in_flight": inspection.calls_in_flight,
        "calls": [
            {
                "callback": call.callback,
                "modifier": call.modifier,
                "outcome": call.outcome,
                "count": call.count,
                "total_seconds": call.seconds,
                "mean_seconds": call.seconds / call.count if call.count else 0.0,
            }
            for call in inspection.calls
        ],
        "bytes": {"in": inspection.bytes_in, "out": inspection.bytes_out},
        "flow_control_pauses": inspection.flow_control_pauses,
    }


def as_json(inspection: pb.Inspection, address: str, now: float | None = None) -> str:
    """``as_dict`` as indented JSON."""
    return json.dumps(as_dict(inspection, address, now), indent=2)


def as_text(inspection: pb.Inspection, address: str, now: float | None = None) -> str:
    """A report for a terminal: the controller, each node with its callbacks, the counters."""
    now = time.time() if now is None else now
    lines = [
        f"controller {address}: daffi-controller {inspection.controller_version}, "
        f"transport {inspection.transport}, up {_since(inspection.started_at, now)}",
        f"calls in flight {inspection.calls_in_flight}, bytes in {inspection.bytes_in:,} out "
        f"{inspection.bytes_out:,}, flow-control pauses {inspection.flow_control_pauses:,}",
        "",
        f"{len(inspection.nodes)} node(s)" + (":" if inspection.nodes else ""),
    ]
    for node in inspection.nodes:
        lines.append(
            f"  {node.process_name}  from {node.address or '?'}, connected {_since(node.connected_since, now)}"
        )
        sigs = sorted(node.callbacks, key=lambda s: s.name)
        width = max((len(signature(s)) for s in sigs), default=0)
        for sig in sigs:
            busy = node.in_flight.get(sig.name, 0)
            lines.append(
                f"    {signature(sig).ljust(width)}  {busy} in flight".rstrip() if busy else f"    {signature(sig)}"
            )
        if not sigs:
            lines.append("    (no callbacks)")
    lines += [
        "",
        "calls (finished, by callback, modifier and outcome):" if inspection.calls else "no call finished yet",
    ]
    if inspection.calls:
        rows = [("CALLBACK", "MODIFIER", "OUTCOME", "COUNT", "MEAN")]
        rows += [
            (c.callback, c.modifier, c.outcome, f"{c.count:,}", _duration(c.seconds / c.count if c.count else 0.0))
            for c in inspection.calls
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for row in rows:
            left = [cell.ljust(widths[i]) for i, cell in enumerate(row[:3])]
            right = [cell.rjust(widths[i + 3]) for i, cell in enumerate(row[3:])]
            lines.append("  " + "  ".join(left + right))
    return "\n".join(lines)


def _since(moment: float, now: float) -> str:
    """``2024-05-01 12:00:00 (3m 12s ago)``: local time and age."""
    return f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(moment))} ({_age(now - moment)} ago)"


def _age(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _duration(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
