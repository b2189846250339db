"""The ``daffi-controller`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

__all__ = ["inspect", "main", "serve"]

# gRPC's C core prints its own error lines for a failed bind; the command prints one clear line instead.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from daffi_core.address import Address
from daffi_core.cli import (
    ADDRESS_OPTIONS,
    EnvDefaults,
    add_client_security,
    add_controller_options,
    client_security,
    controller_address,
)
from daffi_core.errors import ConnectionRefused, InitializationError, TransportError
from daffi_core.keepalive import DEFAULT_KEEPALIVE, resolve_keepalive
from daffi_core.logs import LEVELS, configure
from daffi_core.metrics import DEFAULT_METRICS_HOST
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import INSPECT_METHOD, PROTOCOL_VERSION
from daffi_core.security import TOKEN_ENV, ServerTLS, resolve_token
from daffi_core.transport import CONTROLLER_CHOICES, GRPC, controller_transport, new_event_loop
from daffi_core.transport.ask import ask

from daffi_controller.__about__ import __version__
from daffi_controller.inspection import as_json, as_text
from daffi_controller.server import ControllerServer

log = logging.getLogger("daffi.controller")


def _options() -> EnvDefaults:
    """The controller's options, each also from its ``$DAFFI_<FLAG>``."""
    parser = argparse.ArgumentParser(
        prog="daffi-controller",
        description="Run a daffi controller. Without --host and --port it listens on the default UNIX socket. "
        "Every option is also read from the environment variable shown with it (the command line wins; "
        "giving any of --host, --port, --unix-sock-path ignores the variables of the others).",
        epilog="daffi-controller inspect --help: what a running controller sees (nodes, callbacks, calls, counters).",
    )
    parser.add_argument("--host", help="host to bind, used exactly as given (e.g. 127.0.0.1, localhost)")
    parser.add_argument("--port", type=int, help="TCP port to listen on (0: a free one, shown in the ready line)")
    parser.add_argument("--unix-sock-path", help="path of the UNIX socket file (default <tempdir>/daffi/.sock)")
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=LEVELS,
        help="lowest level logged, any case (default INFO)",
    )
    security = parser.add_argument_group("security")
    security.add_argument(
        "--token-file", help=f"nodes must present the token in this file (default: the token in ${TOKEN_ENV})"
    )
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
        f"(default {DEFAULT_KEEPALIVE:g}); give nodes the same value",
    )
    parser.add_argument(
        "--transport",
        type=str.lower,
        choices=CONTROLLER_CHOICES,
        help="how frames travel: 'grpc', 'socket', or 'auto' (socket on a UNIX socket, grpc on TCP; "
        "default auto); nodes must use the same",
    )
    metrics = parser.add_argument_group("metrics (needs daffi-controller[metrics])")
    metrics.add_argument(
        "--metrics-port", type=int, help="serve Prometheus text at /metrics on this port (0: a free one)"
    )
    metrics.add_argument(
        "--metrics-host",
        default=DEFAULT_METRICS_HOST,
        help=f"host of the metrics endpoint (default {DEFAULT_METRICS_HOST})",
    )
    parser.add_argument("--version", action="version", version=f"daffi-controller {__version__}")
    return EnvDefaults(parser, together=[ADDRESS_OPTIONS])


def _inspect_options() -> EnvDefaults:
    """``inspect``'s options; those meaning the same to the controller also from its variables."""
    parser = argparse.ArgumentParser(
        prog="daffi-controller inspect",
        description="Show what a running controller sees: its nodes and their callbacks, the calls in flight, "
        "and the counters (finished calls with their mean duration, bytes, flow-control pauses). "
        "The address, transport and token file are also read from the environment variables shown "
        "(the controller's own), the command line winning.",
    )
    add_controller_options(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON object (keys: docs/operations.md)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    parser.add_argument(
        "--transport",
        type=str.lower,
        choices=CONTROLLER_CHOICES,
        help="the controller's transport: 'grpc', 'socket', or 'auto' (socket on a UNIX socket, grpc on TCP; "
        "default auto)",
    )
    add_client_security(parser)
    # The TLS files mean other things to the controller (its own certificate, the CA of the nodes'):
    # inspecting from the controller's environment must not present its server certificate.
    client_only = {"json", "timeout", "ssl_ca", "ssl_certificate", "ssl_key"}
    return EnvDefaults(parser, exclude=client_only, together=[ADDRESS_OPTIONS])


async def serve(
    address: Address,
    token: str | None = None,
    tls: ServerTLS | None = None,
    grace: float = 2.0,
    hello_timeout: float = 10.0,
    keepalive: float = DEFAULT_KEEPALIVE,
    transport: str = GRPC,
    metrics: tuple[str, int] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop within ``grace`` seconds."""
    server = ControllerServer(address, token, tls, hello_timeout, keepalive, transport, metrics)
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
    """``daffi-controller [options]`` serves; ``daffi-controller inspect [options]`` asks a running one."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["inspect"]:
        return inspect(argv[1:])
    env = _options()
    try:
        args = env.parse(argv)
    except InitializationError as exc:
        print(f"daffi-controller: error: {exc}", file=sys.stderr)
        return 2
    configure(args.log_level)
    try:
        _log_options(env)
        address = _listen_address(args)
        token = resolve_token(token_file=args.token_file)
        keepalive = resolve_keepalive(args.keepalive)
        tls = None
        if args.ssl_certificate or args.ssl_key or args.ssl_ca or args.require_client_cert:
            if not (args.ssl_certificate and args.ssl_key):
                raise InitializationError("TLS needs both --ssl-certificate and --ssl-key")
            tls = ServerTLS(args.ssl_certificate, args.ssl_key, args.ssl_ca, args.require_client_cert)
        transport = controller_transport(args.transport, address)
        loop = new_event_loop(transport)
        try:
            loop.run_until_complete(
                serve(
                    address,
                    token,
                    tls,
                    hello_timeout=args.hello_timeout,
                    keepalive=keepalive,
                    transport=transport,
                    metrics=None if args.metrics_port is None else (args.metrics_host, args.metrics_port),
                )
            )
        finally:
            loop.close()
    except InitializationError as exc:
        print(f"daffi-controller: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _listen_address(args: argparse.Namespace) -> Address:
    """Where to listen; ``--port`` alone listens on localhost, ``--port 0`` on a free port."""
    host = args.host
    if args.port is not None and host is None and args.unix_sock_path is None:
        host = "localhost"
    return Address.resolve(host, args.port, args.unix_sock_path, listen=True)


def _log_options(env: EnvDefaults) -> None:
    """At DEBUG, the options that are not defaults and where each came from (a flag or a variable)."""
    if log.isEnabledFor(logging.DEBUG):
        chosen = [(dest, origin) for dest, origin in env.origins.items() if origin != "default"]
        log.debug("options: %s", ", ".join(f"{dest} from {origin}" for dest, origin in chosen) or "all defaults")


def inspect(argv: list[str]) -> int:
    """``daffi-controller inspect``: print what the controller at the given address sees.

    Exit status 0; 1 when no controller answered (or it refused); 2 for bad options.
    """
    env = _inspect_options()
    try:
        args = env.parse(argv)
        address = controller_address(args)
        security = client_security(args)
        transport = controller_transport(args.transport, address)
    except InitializationError as exc:
        print(f"daffi-controller inspect: error: {exc}", file=sys.stderr)
        return 2
    who = "daffi-controller inspect"
    try:
        inspection = ask(
            address, INSPECT_METHOD, pb.InspectRequest(), pb.Inspection, security, args.timeout, transport, who
        )
    except ConnectionRefused as exc:  # the message says who refused and why
        print(f"{who}: error: {exc}", file=sys.stderr)
        return 1
    except TransportError as exc:
        print(f"{who}: error: no controller answered at {address}: {exc}", file=sys.stderr)
        return 1
    except InitializationError as exc:  # TLS files that do not load
        print(f"{who}: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(as_json(inspection, str(address)) if args.json else as_text(inspection, str(address)))
    except BrokenPipeError:  # piped into a reader that stopped early (`| head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
