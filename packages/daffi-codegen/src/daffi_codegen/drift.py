"""What changed between the signatures stubs were made from and the live ones, breaking or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Lock = dict[str, Any]
_OPTIONAL_KINDS = ("VAR_POSITIONAL", "VAR_KEYWORD")


@dataclass(frozen=True)
class Change:
    """One difference; ``breaking`` when callers written against the old signature may now fail."""

    breaking: bool
    where: str
    what: str

    def __str__(self) -> str:
        return f"{'BREAKING  ' if self.breaking else 'compatible'} {self.where}: {self.what}"


def classify(old: Lock, new: Lock) -> list[Change]:
    """Every change from ``old`` to ``new`` (both as produced by ``render.lock_of``), sorted."""
    changes: list[Change] = []
    old_processes: dict[str, Any] = old.get("processes", {})
    new_processes: dict[str, Any] = new.get("processes", {})
    for process in sorted(old_processes.keys() | new_processes.keys()):
        before = old_processes.get(process, {})
        after = new_processes.get(process, {})
        for name in sorted(before.keys() | after.keys()):
            where = f"{process}.{name}"
            if name not in after:
                changes.append(Change(True, where, "callback removed"))
            elif name not in before:
                changes.append(Change(False, where, "new callback"))
            else:
                changes.extend(_compare(where, before[name], after[name]))
    return changes


def _compare(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out: list[Change] = []
    old_params = {p["name"]: p for p in old["parameters"]}
    new_params = {p["name"]: p for p in new["parameters"]}
    for name in old_params.keys() - new_params.keys():
        out.append(Change(True, where, f"parameter {name!r} removed or renamed"))
    for name in sorted(new_params.keys() - old_params.keys()):
        p = new_params[name]
        optional = p["default"] is not None or p["kind"] in _OPTIONAL_KINDS
        out.append(Change(not optional, where, f"new {'optional' if optional else 'required'} parameter {name!r}"))
    common = [n for n in old_params if n in new_params]
    if common != [n for n in new_params if n in old_params]:
        out.append(Change(True, where, "parameters reordered"))
    for name in common:
        a, b = old_params[name], new_params[name]
        if a["kind"] != b["kind"]:
            out.append(Change(True, where, f"parameter {name!r} changed from {a['kind']} to {b['kind']}"))
        if a["annotation"] != b["annotation"]:
            out.append(Change(True, where, f"parameter {name!r} annotation {a['annotation']} -> {b['annotation']}"))
        if a["default"] is not None and b["default"] is None:
            out.append(Change(True, where, f"parameter {name!r} made required"))
        elif a["default"] is None and b["default"] is not None:
            out.append(Change(False, where, f"parameter {name!r} got a default"))
        elif a["default"] != b["default"]:
            out.append(Change(False, where, f"parameter {name!r} default {a['default']} -> {b['default']}"))
    for field in ("returns", "yields"):
        if old[field] != new[field]:
            out.append(Change(True, where, f"{field} annotation {old[field]} -> {new[field]}"))
    for flag in ("is_async", "is_generator"):
        if old[flag] != new[flag]:
            out.append(Change(True, where, f"{flag} changed to {new[flag]}"))
    if old["doc"] != new["doc"]:
        out.append(Change(False, where, "docstring changed"))
    return out
