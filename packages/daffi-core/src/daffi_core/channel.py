"""gRPC options for the controller's server and the nodes' channels, matched on both sides.

Keepalive is the one setting users choose: ``keepalive`` seconds between HTTP/2 pings
(``Global(keepalive=...)``, ``daffi-controller --keepalive``, else ``$DAFFI_KEEPALIVE``, else
20 s). A ping not answered within half that interval closes the connection, so a silent
network cut is noticed within ``1.5 * keepalive`` seconds; each side bounds its own detection
(a node notices a dead controller, a controller a dead node). The controller permits pings as
often as the shortest keepalive a node may use, so no setting on either side can make it answer
with GOAWAY ``too_many_pings``.
"""

from __future__ import annotations

import math
import os

from daffi_core.errors import InitializationError
from daffi_core.protocol import MAX_MESSAGE_BYTES

#: Seconds between keepalive pings when nothing is configured.
DEFAULT_KEEPALIVE = 20.0
#: The shortest keepalive accepted (seconds); the server permits pings this often from any node.
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


def _common(keepalive: float) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", round(keepalive * 1000)),
        ("grpc.keepalive_timeout_ms", round(keepalive_timeout(keepalive) * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def server_options(keepalive: float = DEFAULT_KEEPALIVE) -> list[tuple[str, int]]:
    """Options of the controller's server; ``keepalive`` bounds how fast it notices a dead node."""
    return [
        *_common(keepalive),
        # SO_REUSEPORT off so that a second controller on a busy port fails.
        ("grpc.so_reuseport", 0),
        # Pings as often as every half of the shortest keepalive a node may use are fine (margin for
        # jitter): a node's pings never count as abuse, whatever either side is configured with.
        ("grpc.http2.min_ping_interval_without_data_ms", round(MIN_KEEPALIVE * 1000) // 2),
    ]


def client_options(keepalive: float = DEFAULT_KEEPALIVE) -> list[tuple[str, int]]:
    """Channel options of nodes and tools; ``keepalive`` bounds how fast a node notices a dead controller."""
    return [
        *_common(keepalive),
        ("grpc.enable_retries", 0),
        # Reconnect to a restarted controller within about a second (gRPC's minimum is 20 s otherwise).
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1_000),
    ]


__all__ = [
    "DEFAULT_KEEPALIVE",
    "KEEPALIVE_ENV",
    "MAX_KEEPALIVE",
    "MIN_KEEPALIVE",
    "client_options",
    "detection_bound",
    "keepalive_timeout",
    "resolve_keepalive",
    "server_options",
]
