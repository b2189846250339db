"""Reading the catalog of nodes and callbacks from a running controller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import grpc
from daffi_core.address import Address
from daffi_core.channel import client_options
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.proto import daffi_pb2_grpc as pb_grpc
from daffi_core.security import ClientSecurity


class CollectError(Exception):
    """The controller could not be reached, or the awaited nodes did not show up in time."""


def fetch_catalog(
    address: Address, wait_for: Iterable[str] = (), timeout: float = 10.0, security: ClientSecurity | None = None
) -> pb.Catalog:
    """The controller's catalog once every process in ``wait_for`` is connected (within ``timeout`` s)."""
    return asyncio.run(_fetch(address, set(wait_for), timeout, security or ClientSecurity()))


async def _fetch(address: Address, waiting: set[str], timeout: float, security: ClientSecurity) -> pb.Catalog:
    deadline = time.monotonic() + timeout
    last_error = ""
    async with security.channel(address.target, client_options()) as channel:
        stub = pb_grpc.ControllerStub(channel)
        while True:
            remaining = deadline - time.monotonic()
            try:
                catalog = await stub.GetCatalog(
                    pb.CatalogRequest(), timeout=max(0.1, min(remaining, 5.0)), metadata=security.metadata
                )
                missing = waiting - {n.process_name for n in catalog.nodes}
                if not missing:
                    return catalog
                last_error = f"still waiting for {', '.join(sorted(missing))}"
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    raise CollectError(f"the controller at {address} refused: {exc.details()}") from None
                if not last_error.startswith("still waiting"):  # one slow poll does not hide what is missing
                    last_error = f"no controller answered at {address} ({exc.code().name})"
            if time.monotonic() >= deadline:
                raise CollectError(f"{last_error} after {timeout:g} s")
            await asyncio.sleep(0.1)  # polling a remote catalog: nothing to wait on locally


def select(catalog: pb.Catalog, processes: Iterable[str] = ()) -> list[pb.NodeInfo]:
    """The nodes that announced callbacks, limited to ``processes`` when given, sorted by name."""
    wanted = set(processes)
    nodes = [n for n in catalog.nodes if n.callbacks and (not wanted or n.process_name in wanted)]
    missing = wanted - {n.process_name for n in nodes}
    if missing:
        raise CollectError(f"no connected node with callbacks is named {', '.join(sorted(missing))}")
    return sorted(nodes, key=lambda n: n.process_name)
