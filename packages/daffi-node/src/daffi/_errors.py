"""Turning wire errors into daffi exceptions."""

from __future__ import annotations

from daffi_core.errors import (
    DaffiError,
    GlobalContextError,
    RemoteCallError,
    RemoteStoppedUnexpectedly,
    SignatureMismatch,
    TimeoutError,
)
from daffi_core.proto import daffi_pb2 as pb

__all__ = ["UnableToFindCandidate", "from_wire"]


class UnableToFindCandidate(GlobalContextError):
    """No other node offers the callback (not yet, or not any more)."""


def from_wire(error: pb.Error, peer: str) -> DaffiError:
    """The exception a caller raises for an error REPLY from ``peer`` (or the controller)."""
    kind = error.kind
    if kind == pb.Error.CALLBACK_RAISED:
        return RemoteCallError(error.type_name, error.message, error.traceback, peer)
    if kind == pb.Error.REMOTE_STOPPED:
        return RemoteStoppedUnexpectedly(error.message)
    if kind == pb.Error.TIMEOUT:
        return TimeoutError(error.message)
    if kind == pb.Error.UNKNOWN_CALLBACK:
        return UnableToFindCandidate(error.message)
    if kind == pb.Error.SIGNATURE_MISMATCH:
        return SignatureMismatch(error.message)
    if kind in (pb.Error.BAD_ARGUMENTS, pb.Error.NO_SUCH_NODE):
        return GlobalContextError(error.message)
    where = f" on {peer!r}" if peer else ""
    return (
        RemoteCallError(error.type_name or pb.Error.Kind.Name(kind), error.message, error.traceback, peer)
        if kind == pb.Error.SERIALIZATION
        else DaffiError(f"{pb.Error.Kind.Name(kind).lower()}{where}: {error.message}")
    )
