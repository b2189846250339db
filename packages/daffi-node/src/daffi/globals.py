"""daffi 1.x's ``daffi.globals``: ``Global`` and ``get_g``, for code written for daffi 1.x.

New code imports the same names from ``daffi`` (see ``daffi._v1``).
"""

from daffi._global import Global, get_g

__all__ = ["Global", "get_g"]
