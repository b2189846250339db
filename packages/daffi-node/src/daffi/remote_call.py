"""daffi 1.x's ``daffi.remote_call``: the modifiers and the call they complete, for code written for daffi 1.x.

New code imports the same names from ``daffi`` (see ``daffi._v1``).
"""

from daffi._execute import RemoteCall
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM
from daffi._v1 import RetryPolicy

__all__ = ["BG", "BROADCAST", "FG", "PERIOD", "STREAM", "RemoteCall", "RetryPolicy"]
