"""The ``daffi-controller`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

# gRPC's C core prints its own error lines for a failed bind; the command prints one clear line instead.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.keepalive import DEFAULT_KEEPALIVE, KEEPALIVE_ENV, resolve_keepalive
from daffi_core.protocol import PROTOCOL_VERSION
from daffi_core.security import ServerTLS, resolve_token
from daffi_core.transport import CHOICES, GRPC, TRANSPORT_ENV, new_event_loop, resolve_transport

from daffi_controller.__about__ import __version__
from daffi_controller.server import ControllerServer

log = logging.getLogger("daffi.controller")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daffi-controller",
        description="Run a daffi controller. Without --host and --port it listens on the default UNIX socket.",
    )
    parser.add_argument("--host", help="host to bind, used exactly as given (e.g. 127.0.0.1, localhost)")
    parser.add_argument("--port", type=int, help="TCP port to listen on")
    parser.add_argument("--unix-sock-path", help="path of the UNIX socket file (default <tempdir>/daffi/.sock)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    security = parser.add_argument_group("security")
    security.add_argument("--token-file", help="nodes must present the token in this file (default: $DAFFI_TOKEN)")
    security.add_argument("--ssl-certificate", help="serve TLS with this certificate (PEM); needs --ssl-key")
    security.add_argument("--ssl-key", help="the certificate's private key (PEM)")
    security.add_argument("--ssl-ca", help="CA (PEM) that signs the nodes' client certificates")
    security.add_argument(
        "--require-client-cert",
        action="store_true",
        help="mutual TLS: refuse nodes without a certificate from --ssl-ca",
    )
    parser.add_argument(
        "--hello-timeout", type=float, default=10.0, help="seconds a new stream has to say Hello (default 10)"
    )
    parser.add_argument(
        "--keepalive",
        type=float,
        metavar="SECONDS",
        help=f"seconds between keepalive pings to each node; a node silent for 1.5x that is dropped "
        f"(default ${KEEPALIVE_ENV}, else {DEFAULT_KEEPALIVE:g}); give nodes the same value",
    )
    parser.add_argument(
        "--transport",
        choices=CHOICES,
        help=f"how frames travel: 'grpc', 'socket', or 'auto' (socket on a UNIX socket, grpc on TCP); "
        f"default ${TRANSPORT_ENV}, else auto; nodes must use the same",
    )
    parser.add_argument("--version", action="version", version=f"daffi-controller {__version__}")
    return parser


async def serve(
    address: Address,
    token: str | None = None,
    tls: ServerTLS | None = None,
    grace: float = 2.0,
    hello_timeout: float = 10.0,
    keepalive: float = DEFAULT_KEEPALIVE,
    transport: str = GRPC,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop within ``grace`` seconds."""
    server = ControllerServer(address, token, tls, hello_timeout, keepalive, transport)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("daffi-controller %s ready on %s (protocol %d)", __version__, server.describe(), PROTOCOL_VERSION)
    try:
        await stop.wait()
    finally:
        log.info("daffi-controller stopping")
        await server.stop(grace)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.port is not None and args.host is None and args.unix_sock_path is None:
            args.host = "localhost"
        address = Address.resolve(args.host, args.port, args.unix_sock_path)
        token = resolve_token(token_file=args.token_file)
        keepalive = resolve_keepalive(args.keepalive)
        tls = None
        if args.ssl_certificate or args.ssl_key or args.ssl_ca or args.require_client_cert:
            if not (args.ssl_certificate and args.ssl_key):
                raise InitializationError("TLS needs both --ssl-certificate and --ssl-key")
            tls = ServerTLS(args.ssl_certificate, args.ssl_key, args.ssl_ca, args.require_client_cert)
        transport = resolve_transport(args.transport, address)
        loop = new_event_loop(transport)
        try:
            loop.run_until_complete(
                serve(address, token, tls, hello_timeout=args.hello_timeout, keepalive=keepalive, transport=transport)
            )
        finally:
            loop.close()
    except InitializationError as exc:
        print(f"daffi-controller: error: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["main", "serve"]
