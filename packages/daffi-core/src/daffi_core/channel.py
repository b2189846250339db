"""gRPC options for the controller's server and the nodes' channels, matched on both sides."""

from __future__ import annotations

from daffi_core.protocol import MAX_MESSAGE_BYTES

# Keepalive: the client pings every 20 s and the server permits pings that often, so a
# GOAWAY "too_many_pings" cannot happen; a dead peer is noticed within ping + timeout.
KEEPALIVE_TIME_MS = 20_000
KEEPALIVE_TIMEOUT_MS = 10_000

_COMMON: list[tuple[str, int]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]

#: Server options; SO_REUSEPORT off so that a second controller on a busy port fails.
SERVER_OPTIONS: list[tuple[str, int]] = [
    *_COMMON,
    ("grpc.so_reuseport", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_TIME_MS // 2),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_TIME_MS // 2),
]

#: Channel options of nodes and tools.
CLIENT_OPTIONS: list[tuple[str, int]] = [
    *_COMMON,
    ("grpc.enable_retries", 0),
    # Reconnect to a restarted controller within about a second (gRPC's minimum is 20 s otherwise).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]

__all__ = ["CLIENT_OPTIONS", "KEEPALIVE_TIMEOUT_MS", "KEEPALIVE_TIME_MS", "SERVER_OPTIONS"]
