"""daffi: call functions of other processes as if they were local.

A process runs a node, a controller, or both (``Global``). Nodes register
``@callback`` functions and call other nodes' callbacks through ``@fetcher``
functions and execution modifiers (``FG``, ``BG``, ``BROADCAST``, ``STREAM``,
``PERIOD``).
"""

from daffi_core.errors import (
    DaffiError,
    GlobalContextError,
    InitializationError,
    RemoteCallError,
    RemoteStoppedUnexpectedly,
    TimeoutError,
)

from daffi.__about__ import __version__
from daffi._args import Args
from daffi._caller import RemoteIterator
from daffi._decorators import Fetcher, __body_unknown__, callback, callback_and_fetcher, fetcher
from daffi._global import Global
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM
from daffi._results import AsyncResult, AwaitableValue, ScheduledTask
from daffi._typed import remote

__all__ = [
    "BG",
    "BROADCAST",
    "FG",
    "PERIOD",
    "STREAM",
    "Args",
    "AsyncResult",
    "AwaitableValue",
    "DaffiError",
    "Fetcher",
    "Global",
    "GlobalContextError",
    "InitializationError",
    "RemoteCallError",
    "RemoteIterator",
    "RemoteStoppedUnexpectedly",
    "ScheduledTask",
    "TimeoutError",
    "__body_unknown__",
    "__version__",
    "callback",
    "callback_and_fetcher",
    "fetcher",
    "remote",
]
