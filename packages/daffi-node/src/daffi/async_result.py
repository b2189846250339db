"""daffi 1.x's ``daffi.async_result``: what BG and PERIOD calls return, for code written for daffi 1.x.

New code imports the same names from ``daffi`` (see ``daffi._v1``).
"""

from daffi._results import AsyncResult, ScheduledTask

__all__ = ["AsyncResult", "ScheduledTask"]
