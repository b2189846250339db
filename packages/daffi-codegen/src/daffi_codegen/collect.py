"""Reading the catalog of nodes and callbacks from a running controller, over either transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, TransportError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CATALOG_METHOD
from daffi_core.security import ClientSecurity
from daffi_core.transport import GRPC, SOCKET, mismatch, resolve_transport


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

    ``transport`` is ``"grpc"``, ``"socket"`` or ``"auto"``; None reads ``$DAFFI_TRANSPORT`` (see
    ``daffi_core.transport.resolve_transport``).
    """
    security = security or ClientSecurity()
    ask = _socket_catalog if resolve_transport(transport, address) == SOCKET else _grpc_catalog
    waiting = set(wait_for)
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        remaining = deadline - time.monotonic()
        try:
            catalog = ask(address, security, max(0.1, min(remaining, 5.0)))
            missing = waiting - {n.process_name for n in catalog.nodes}
            if not missing:
                return catalog
            last_error = f"still waiting for {', '.join(sorted(missing))}"
        except ConnectionRefused as exc:
            raise CollectError(str(exc)) from None
        except TransportError as exc:
            if not last_error.startswith("still waiting"):  # one slow poll does not hide what is missing
                last_error = f"no controller answered at {address} ({exc})"
        if time.monotonic() >= deadline:
            raise CollectError(f"{last_error} after {timeout:g} s")
        time.sleep(0.1)  # polling a remote catalog: nothing to wait on locally


def _socket_catalog(address: Address, security: ClientSecurity, timeout: float) -> pb.Catalog:
    from daffi_core.transport.socket.client import open_connection

    conn = open_connection(address, CATALOG_METHOD, security, timeout, who="daffi-codegen")
    try:
        return pb.Catalog.FromString(bytes(conn.receive_one(timeout)))
    finally:
        conn.dispose()


def _grpc_catalog(address: Address, security: ClientSecurity, timeout: float) -> pb.Catalog:
    return asyncio.run(_grpc_ask(address, security, timeout))


async def _grpc_ask(address: Address, security: ClientSecurity, timeout: float) -> pb.Catalog:
    import grpc
    from daffi_core.proto import daffi_pb2_grpc as pb_grpc
    from daffi_core.transport.grpc import channel, client_options
    from daffi_core.transport.socket.client import probe

    async with channel(address.target, security, client_options()) as chan:
        try:
            return await pb_grpc.ControllerStub(chan).GetCatalog(
                pb.CatalogRequest(), timeout=timeout, metadata=security.metadata
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise ConnectionRefused(f"the controller at {address} refused: {exc.details()}") from None
            if exc.code() == grpc.StatusCode.UNAVAILABLE and probe(address, security, 1.0):
                raise ConnectionRefused(mismatch(address, GRPC, SOCKET, "daffi-codegen")) from None
            raise TransportError(exc.code().name) from None


def select(catalog: pb.Catalog, processes: Iterable[str] = ()) -> list[pb.NodeInfo]:
    """The nodes that announced callbacks, limited to ``processes`` when given, sorted by name."""
    wanted = set(processes)
    nodes = [n for n in catalog.nodes if n.callbacks and (not wanted or n.process_name in wanted)]
    missing = wanted - {n.process_name for n in nodes}
    if missing:
        raise CollectError(f"no connected node with callbacks is named {', '.join(sorted(missing))}")
    return sorted(nodes, key=lambda n: n.process_name)
