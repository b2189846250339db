"""Reading the catalog of nodes and callbacks from a running controller (over either transport), or
from the nodes on a NATS server (``transport="nats"``: no controller; the nodes answer themselves)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, TransportError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CATALOG_METHOD
from daffi_core.security import ClientSecurity
from daffi_core.transport import NATS, resolve_transport
from daffi_core.transport.ask import ask

__all__ = ["CollectError", "PATIENCE", "fetch_catalog", "select"]

log = logging.getLogger("daffi.codegen")
#: Seconds of waiting after which ``fetch_catalog`` says, once, what it is waiting for.
PATIENCE = 1.0


class CollectError(Exception):
    """The controller could not be reached, or the awaited nodes did not show up in time."""


def fetch_catalog(
    address: Address,
    wait_for: Iterable[str] = (),
    timeout: float = 10.0,
    security: ClientSecurity | None = None,
    transport: str | None = None,
) -> pb.Catalog:
    """The controller's catalog once every process in ``wait_for`` is connected (within ``timeout`` s).

    ``transport`` is ``"grpc"``, ``"socket"``, ``"nats"`` or ``"auto"``; None reads
    ``$DAFFI_TRANSPORT`` (see ``daffi_core.transport.resolve_transport``).
    """
    security = security or ClientSecurity()
    transport = resolve_transport(transport, address)
    waiting = set(wait_for)
    started = time.monotonic()
    deadline = started + timeout
    last_error = ""
    missing: set[str] = set()
    told = False
    while True:
        remaining = deadline - time.monotonic()
        try:
            if transport == NATS:
                from daffi_core.transport.nats.catalog import ask_catalog  # nats-py only when asked for

                catalog = ask_catalog(address, max(0.1, min(remaining, 5.0)), security, who="daffi-codegen")
            else:
                catalog = ask(
                    address,
                    CATALOG_METHOD,
                    pb.CatalogRequest(),
                    pb.Catalog,
                    security,
                    max(0.1, min(remaining, 5.0)),
                    transport,
                    who="daffi-codegen",
                )
            missing = waiting - {n.process_name for n in catalog.nodes}
            if not missing:
                return catalog
            last_error = f"still waiting for {', '.join(sorted(missing))}"
        except ConnectionRefused as exc:
            raise CollectError(str(exc)) from None
        except TransportError as exc:
            if not missing:  # one slow poll does not hide what is missing
                last_error = f"no controller answered at {address} ({exc})"
        now = time.monotonic()
        if now >= deadline:
            raise CollectError(f"{last_error} after {timeout:g} s")
        if not told and now - started >= PATIENCE:
            # Once: a user whose command seems stuck learns what it waits for and until when.
            told = True
            log.info("%s (up to %g s)", _waiting_for(address, missing), timeout)
        time.sleep(0.1)  # polling a remote catalog: nothing to wait on locally


def _waiting_for(address: Address, missing: set[str]) -> str:
    if missing:
        return f"waiting for {', '.join(sorted(missing))} to connect to the controller at {address}"
    return f"waiting for the controller at {address}"


def select(catalog: pb.Catalog, processes: Iterable[str] = ()) -> list[pb.NodeInfo]:
    """The nodes that announced callbacks, limited to ``processes`` when given, sorted by name."""
    wanted = set(processes)
    nodes = [n for n in catalog.nodes if n.callbacks and (not wanted or n.process_name in wanted)]
    missing = wanted - {n.process_name for n in nodes}
    if missing:
        raise CollectError(f"no connected node with callbacks is named {', '.join(sorted(missing))}")
    return sorted(nodes, key=lambda n: n.process_name)
