"""Keepalive, the one connection setting users choose, the same on every transport.

``keepalive`` seconds between pings (``Global(keepalive=...)``, ``daffi-controller --keepalive``,
else ``$DAFFI_KEEPALIVE``, else 20 s). A ping not answered within half that interval closes the
connection, so a silent network cut is noticed within ``1.5 * keepalive`` seconds; each side
bounds its own detection (a node notices a dead controller, a controller a dead node). gRPC uses
HTTP/2 pings (``daffi_core.transport.grpc``), the socket transport its PING and PONG frames.
"""

from __future__ import annotations

import math
import os

from daffi_core.errors import InitializationError

__all__ = [
    "DEFAULT_KEEPALIVE",
    "KEEPALIVE_ENV",
    "MAX_KEEPALIVE",
    "MIN_KEEPALIVE",
    "detection_bound",
    "keepalive_timeout",
    "resolve_keepalive",
]

#: Seconds between keepalive pings when nothing is configured.
DEFAULT_KEEPALIVE = 20.0
#: The shortest keepalive accepted (seconds); a gRPC server permits pings this often from any node.
MIN_KEEPALIVE = 1.0
#: The longest keepalive accepted (seconds).
MAX_KEEPALIVE = 86_400.0
#: Environment variable read when no keepalive is given explicitly.
KEEPALIVE_ENV = "DAFFI_KEEPALIVE"


def resolve_keepalive(keepalive: float | None = None) -> float:
    """The keepalive to use: ``keepalive``, else ``$DAFFI_KEEPALIVE``, else 20 s.

    Raises InitializationError unless it is a number of seconds from 1 to 86,400.
    """
    if keepalive is None:
        raw = os.environ.get(KEEPALIVE_ENV, "").strip()
        if not raw:
            return DEFAULT_KEEPALIVE
        try:
            keepalive = float(raw)
        except ValueError:
            raise InitializationError(f"${KEEPALIVE_ENV} must be a number of seconds, not {raw!r}") from None
    if isinstance(keepalive, bool) or not isinstance(keepalive, (int, float)):
        raise InitializationError(f"keepalive must be a number of seconds, not {keepalive!r}")
    if not (math.isfinite(keepalive) and MIN_KEEPALIVE <= keepalive <= MAX_KEEPALIVE):
        raise InitializationError(
            f"keepalive must be from {MIN_KEEPALIVE:g} to {MAX_KEEPALIVE:g} seconds, not {keepalive!r}"
        )
    return float(keepalive)


def keepalive_timeout(keepalive: float) -> float:
    """Seconds a keepalive ping may go unanswered before the connection is closed."""
    return keepalive / 2


def detection_bound(keepalive: float) -> float:
    """Seconds within which a side with this keepalive notices a silent cut (next ping + its timeout)."""
    return keepalive + keepalive_timeout(keepalive)
