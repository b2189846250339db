"""Payload serialization: stdlib pickle when it can, dill when it must.

The only module of daffi that imports dill. pickle (protocol 5) is several times
faster on plain data; dill is needed for lambdas, closures, generator functions,
modules and anything defined in a ``__main__`` script, which pickle would store
by a reference the other process cannot resolve.
"""

from __future__ import annotations

import io
import pickle
import types
from typing import Any

import dill
from daffi_core.proto import daffi_pb2 as pb

__all__ = ["DILL", "PICKLE", "dumps", "loads"]

PICKLE = pb.PICKLE
DILL = pb.DILL


class _NeedsDill(Exception):
    pass


class _StrictPickler(pickle.Pickler):
    """Refuses what only pickles by a reference the receiving process may lack."""

    def reducer_override(self, obj: object) -> Any:  # pickle's: NotImplemented, or a reduction
        if isinstance(obj, (types.FunctionType, type)):
            if obj.__module__ == "__main__" or "<" in obj.__qualname__:  # <lambda>, <locals>
                raise _NeedsDill
        elif isinstance(obj, types.ModuleType) or type(obj).__module__ == "__main__":
            raise _NeedsDill
        return NotImplemented


def dumps(obj: object) -> tuple[bytes, int]:
    """Serialize ``obj``; returns the bytes and their ``Encoding``."""
    buffer = io.BytesIO()
    try:
        _StrictPickler(buffer, protocol=5).dump(obj)
        return buffer.getvalue(), PICKLE
    except Exception:  # whatever pickle refuses, dill gets a chance at
        return dill.dumps(obj, protocol=5, recurse=True), DILL


def loads(data: bytes, encoding: int) -> Any:
    """Rebuild an object serialized by ``dumps`` (a user's value: arguments, a result)."""
    if encoding == DILL:
        return dill.loads(data)
    return pickle.loads(data)
