"""The gRPC transport's settings: channel and server options matched on both sides, credentials.

Keepalive is HTTP/2 pings every ``keepalive`` seconds with a timeout of half that
(``daffi_core.keepalive``). The controller permits pings as often as the shortest keepalive a
node may use, so no setting on either side can make it answer with GOAWAY ``too_many_pings``.
"""

from __future__ import annotations

import grpc

from daffi_core.errors import InitializationError
from daffi_core.keepalive import DEFAULT_KEEPALIVE, MIN_KEEPALIVE, keepalive_timeout
from daffi_core.protocol import MAX_MESSAGE_BYTES
from daffi_core.security import ClientSecurity, ClientTLS, ServerTLS, read_pem

__all__ = ["channel", "channel_credentials", "client_options", "server_credentials", "server_options"]


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


def server_credentials(tls: ServerTLS) -> grpc.ServerCredentials:
    """gRPC credentials serving ``tls``."""
    tls.check()
    cert = read_pem(tls.certificate, "ssl_certificate")
    key = read_pem(tls.key, "ssl_key")
    assert cert is not None and key is not None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=read_pem(tls.client_ca, "ssl_ca"),
        require_client_auth=tls.require_client_certificate,
    )


def channel_credentials(tls: ClientTLS) -> grpc.ChannelCredentials:
    """gRPC credentials trusting and presenting what ``tls`` names."""
    if (tls.certificate is None) != (tls.key is None):
        raise InitializationError("a client certificate needs its key and the key its certificate")
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(tls.ca, "ssl_ca"),
        private_key=read_pem(tls.key, "ssl_key"),
        certificate_chain=read_pem(tls.certificate, "ssl_certificate"),
    )


def channel(target: str, security: ClientSecurity, options: list[tuple[str, int]]) -> grpc.aio.Channel:
    """An asyncio channel to ``target`` speaking ``security``'s TLS (plaintext without)."""
    if security.tls is not None:
        return grpc.aio.secure_channel(target, channel_credentials(security.tls), options=options)
    return grpc.aio.insecure_channel(target, options=options)
