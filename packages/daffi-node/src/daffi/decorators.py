"""daffi 1.x's ``daffi.decorators``: the decorators, for code written for daffi 1.x.

New code imports the same names from ``daffi`` (see ``daffi._v1``).
"""

from daffi._decorators import __body_unknown__, callback, callback_and_fetcher, fetcher

__all__ = ["__body_unknown__", "callback", "callback_and_fetcher", "fetcher"]
