"""Connection options shared by the example scripts (not part of daffi)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict[str, Any]]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": int(args.port)}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}
