"""daffi: call functions of other processes as if they were local.

A process runs a node, a controller, or both (``Global``). Nodes register
``@callback`` functions and call other nodes' callbacks through ``@fetcher``
functions and execution modifiers (``FG``, ``BG``, ``BROADCAST``, ``STREAM``,
``PERIOD``).

Code written for daffi 1.x runs unchanged: its spellings (``get_g``, ``RetryPolicy``,
``call.fg()``, the modules ``daffi.decorators``, ``daffi.globals``, ...) are thin aliases,
described in ``daffi._v1``.
"""

import logging
import types

from daffi_core.errors import (
    DaffiError,
    GlobalContextError,
    InitializationError,
    PendingCallsLimitExceeded,
    RemoteCallError,
    RemoteStoppedUnexpectedly,
    SignatureMismatch,
    TimeoutError,
)

from daffi.__about__ import __version__
from daffi._args import Args
from daffi._caller import RemoteIterator
from daffi._decorators import ClassFetcher, Fetcher, __body_unknown__, callback, callback_and_fetcher, fetcher
from daffi._errors import UnableToFindCandidate
from daffi._global import Global, get_g
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM
from daffi._results import AsyncResult, AwaitableValue, ScheduledTask
from daffi._typed import remote
from daffi._v1 import RetryPolicy

__all__ = [
    "BG",
    "BROADCAST",
    "FG",
    "PERIOD",
    "STREAM",
    "Args",
    "AsyncResult",
    "AwaitableValue",
    "ClassFetcher",
    "DaffiError",
    "Fetcher",
    "Global",
    "GlobalContextError",
    "InitializationError",
    "PendingCallsLimitExceeded",
    "RemoteCallError",
    "RemoteIterator",
    "RemoteStoppedUnexpectedly",
    "RetryPolicy",
    "ScheduledTask",
    "SignatureMismatch",
    "TimeoutError",
    "UnableToFindCandidate",
    "__body_unknown__",
    "__version__",
    "callback",
    "callback_and_fetcher",
    "fetcher",
    "get_g",
    "remote",
]

# The public names are daffi's, wherever in the package they are defined (as httpx does): reprs, tracebacks
# and pickles name them ``daffi.Global``, ``daffi.RemoteCallError``, ... Each one is importable as
# ``daffi.<name>``, which is where pickle (and dill) look it up. Only processes that import daffi see the
# change: the controller imports daffi_core's errors without it.
for _name in __all__:
    _public = globals()[_name]
    if isinstance(_public, (type, types.FunctionType)):
        _public.__module__ = __name__
del _name, _public

# A library never configures logging: its lines go wherever the program sends them (and nowhere,
# rather than to Python's last-resort handler, when it configures nothing). daffi_core.logs has
# the format daffi's commands use, for programs that want their lines to match.
logging.getLogger("daffi").addHandler(logging.NullHandler())
