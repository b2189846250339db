"""What every test service shares: its command line and its life as a node.

``python <service>.py --name NAME (--host H --port P | --unix-sock-path S) [--controller]
[--transport T] [--ssl-ca F --ssl-certificate F --ssl-key F]``; prints ``READY <name>`` once connected and
``STOPPED <name>`` after ``join`` returns.
"""

from __future__ import annotations

import argparse
import logging

from daffi import Global
from daffi_core.logs import LOG_FORMAT


def options(description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--name", required=True)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix-sock-path")
    parser.add_argument("--transport", help="grpc, socket or auto (default: $DAFFI_TRANSPORT, else auto)")
    parser.add_argument("--controller", action="store_true", help="host the controller too")
    parser.add_argument("--ssl-ca")
    parser.add_argument("--ssl-certificate")
    parser.add_argument("--ssl-key")
    return parser


def serve(args: argparse.Namespace) -> None:
    """Run the node until a signal stops it."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)  # lines read like the controller's
    where = {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}
    tls = {"ssl_ca": args.ssl_ca, "ssl_certificate": args.ssl_certificate, "ssl_key": args.ssl_key}
    g = Global(process_name=args.name, init_controller=args.controller, transport=args.transport, **where, **tls)
    try:
        print(f"READY {args.name}", flush=True)
        g.join()
    except KeyboardInterrupt:  # a SIGINT right after READY, before join took the signals over: the same stop
        g.stop()
    print(f"STOPPED {args.name}", flush=True)
