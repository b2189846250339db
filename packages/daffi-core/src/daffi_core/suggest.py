"""Hints for unknown callback names, shared by the node (its catalog) and the controller (its router)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["callback_hint", "close_names"]

#: Names at most this many are suggested, the closest first.
MAX_SUGGESTIONS = 3
#: How alike a name must be to be suggested (``difflib.get_close_matches``'s cutoff).
CUTOFF = 0.6


def close_names(name: str, known: Iterable[str]) -> list[str]:
    """The known names closest to ``name`` (a misspelling's likely intent), the closest first."""
    candidates = sorted({k for k in known if k != name})
    return difflib.get_close_matches(name, candidates, n=MAX_SUGGESTIONS, cutoff=CUTOFF)


def callback_hint(name: str, known: Iterable[str], wait: bool = True) -> str:
    """What to tell about an unknown callback ``name``: the closest of ``known``, and how to wait for it.

    ``"did you mean 'add_numbers'? If the node offering 'ad_numbers' is still starting, wait for it
    with g.wait_function('ad_numbers')"``; without ``wait``, only the names (or ``""``).
    """
    close = close_names(name, known)
    parts = []
    if close:
        parts.append(f"did you mean {' or '.join(repr(c) for c in close)}?")
    if wait:
        parts.append(
            f"{'If' if close else 'if'} the node offering {name!r} is still starting, "
            f"wait for it with g.wait_function({name!r})"
        )
    return " ".join(parts)
