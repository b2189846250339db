"""What the node scripts share: the address argument, marker lines, the harness's ``go``."""

from __future__ import annotations

import json
import sys
from typing import Any


def connection(addr: str) -> dict[str, Any]:
    """``tcp:HOST:PORT`` or ``unix:PATH`` (a controller), or ``nats:HOST:PORT`` (a nats-server), as keyword
    arguments of ``Global``."""
    kind, _, rest = addr.partition(":")
    if kind in ("tcp", "nats"):
        host, _, port = rest.rpartition(":")
        return {"host": host, "port": int(port)} | ({"transport": "nats"} if kind == "nats" else {})
    if kind == "unix":
        return {"unix_sock_path": rest}
    raise SystemExit(f"bad address {addr!r}: use tcp:HOST:PORT, unix:PATH or nats:HOST:PORT")


def mark(name: str, **data: Any) -> None:
    """A line the harness waits for and timestamps: ``MARK name {json}``."""
    print(f"MARK {name} {json.dumps(data)}", flush=True)


def result(**data: Any) -> None:
    print(f"RESULT {json.dumps(data)}", flush=True)


def wait_go() -> None:
    """Block until the harness writes ``go`` (it samples memory meanwhile)."""
    line = sys.stdin.readline()
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' from the harness, got {line!r}")
