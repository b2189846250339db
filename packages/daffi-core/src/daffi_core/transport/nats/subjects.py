"""Subject names and timings of the NATS transport (shared by nodes and tools).

Every subject starts with ``daffi.``: a NATS account can host other traffic beside daffi's.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from daffi_core.address import Address
from daffi_core.errors import InitializationError

__all__ = [
    "BEATS",
    "CATALOG",
    "GATHER_MAX",
    "GATHER_QUIET",
    "HEARTBEAT",
    "PEER_TIMEOUT",
    "PREFIX",
    "beat",
    "beat_sender",
    "decode_name",
    "direct",
    "encode_name",
    "server_url",
]

PREFIX = "daffi"
#: Where a node announces itself (``Hello``), its changed callbacks (``NodeInfo``) and its
#: departure (``NodeLeft``); every node subscribes to it.
CATALOG = f"{PREFIX}.catalog"
#: Heartbeats: ``daffi.beat.<node>``, empty messages; every node subscribes to ``daffi.beat.*``.
BEATS = f"{PREFIX}.beat.*"
#: Seconds between a node's heartbeats, and of silence after which the others take it for gone
#: (its calls fail with REMOTE_STOPPED): a few missed beats, so a busy loop is not taken for a death.
HEARTBEAT = 1.0
PEER_TIMEOUT = 4.0
#: Seconds a newcomer keeps collecting the catalogue's answers after the last one (at most
#: ``GATHER_MAX``) before it reports itself connected: the nodes it learns of then are in its Welcome.
GATHER_QUIET = 0.15
GATHER_MAX = 1.0

# NATS subject tokens cannot hold whitespace, '.', '*' or '>'; '%' is escaped so decoding is exact.
_UNSAFE = re.compile(r"[\s.*>%]")


def encode_name(process_name: str) -> str:
    """``process_name`` as one subject token: unsafe characters as ``%XX`` (UTF-8 bytes)."""
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), process_name)


def decode_name(token: str) -> str:
    """The process name ``encode_name`` turned into ``token``."""
    return unquote(token)  # every '%' in a token is one encode_name wrote


def direct(process_name: str) -> str:
    """The subject a node reads its call traffic and catalogue answers from."""
    return f"{PREFIX}.node.{encode_name(process_name)}"


def beat(process_name: str) -> str:
    return f"{PREFIX}.beat.{encode_name(process_name)}"


def beat_sender(subject: str) -> str:
    """The process name of a heartbeat's subject."""
    return decode_name(subject.rsplit(".", 1)[-1])


def server_url(address: Address) -> str:
    """``nats://host:port`` of ``address``; InitializationError for a UNIX socket (NATS speaks TCP)."""
    if address.is_unix or address.host is None:
        raise InitializationError(
            "transport='nats' needs the NATS server's host and port (e.g. host='127.0.0.1', port=4222), "
            "not a UNIX socket"
        )
    host = address.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"nats://{host}:{address.port}"
