"""What changed between the signatures stubs were made from and the live ones (rules: ``daffi_core.contract``)."""

from __future__ import annotations

from typing import Any

from daffi_core.contract import Change, compare

__all__ = ["classify"]

Lock = dict[str, Any]


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
                changes.extend(compare(where, before[name], after[name]))
    return changes
