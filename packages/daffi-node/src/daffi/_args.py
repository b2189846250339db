"""Argument packs: what an ``args_from_body`` fetcher returns and what a stream item may be."""

from __future__ import annotations

__all__ = ["Args"]


class Args:
    """Positional and keyword arguments for a callback, from an ``args_from_body`` fetcher or a stream."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Args({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and (self.args, self.kwargs) == (other.args, other.kwargs)

    __hash__ = None  # type: ignore[assignment]  # holds lists and dicts: unhashable
