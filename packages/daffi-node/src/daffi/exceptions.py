"""daffi 1.x's ``daffi.exceptions``: the exceptions, for code written for daffi 1.x.

New code imports the same names from ``daffi`` (see ``daffi._v1``).
"""

from daffi_core.errors import (
    DaffiError,
    GlobalContextError,
    InitializationError,
    RemoteCallError,
    RemoteStoppedUnexpectedly,
    TimeoutError,
)

from daffi._errors import UnableToFindCandidate

__all__ = [
    "DaffiError",
    "GlobalContextError",
    "InitializationError",
    "RemoteCallError",
    "RemoteStoppedUnexpectedly",
    "TimeoutError",
    "UnableToFindCandidate",
]
