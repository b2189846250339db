"""The one log format of daffi's commands (``daffi-controller``, ``daffi-codegen``), for nodes too.

Libraries never configure logging: the commands call ``configure`` for themselves, and a node's
program chooses its own, e.g. ``logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)`` so
that its lines read like the controller's::

    2024-05-01 12:00:00,123 INFO daffi.controller: node 'svc' joined with 3 callback(s)

Every daffi logger is named ``daffi`` or ``daffi.<part>`` (``daffi.controller``,
``daffi.codegen``, ``daffi.transport``, the node's ``daffi.*``).
"""

from __future__ import annotations

import logging
from typing import TextIO

__all__ = ["LEVELS", "LOG_FORMAT", "configure"]

#: Local time, level, logger name, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The levels the commands' ``--log-level`` accepts (in any case).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure(level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Log to ``stream`` (standard error by default) in ``LOG_FORMAT`` from ``level`` up: for a
    command's ``main``, once, before it logs anything."""
    if isinstance(level, str):
        level = level.upper()
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream)
