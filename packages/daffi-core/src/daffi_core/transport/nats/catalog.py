"""The catalogue of the nodes on a NATS server, for tools (``daffi-codegen --transport nats``).

A tool is no node: it does not announce itself. It publishes a ``Batch`` with no frames on the
catalogue subject, with a reply subject; every node answers there with its ``NodeInfo``. With no
count of nodes to wait for, the answers are collected until ``GATHER_QUIET`` passes without a new
one (at most ``GATHER_MAX``), as a node collects them when it joins.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, TransportError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.security import ClientSecurity
from daffi_core.transport import NATS, mismatch
from daffi_core.transport.nats import chunks, subjects
from daffi_core.transport.nats.client import import_nats, is_refusal, security_options
from daffi_core.transport.sniff import speaker

__all__ = ["ask_catalog"]


def ask_catalog(
    address: Address, timeout: float = 5.0, security: ClientSecurity | None = None, who: str = "this tool"
) -> pb.Catalog:
    """Every node on the NATS server at ``address`` and its callbacks, sorted by name.

    Raises ConnectionRefused when retrying cannot help (the server refused the token, or a daffi
    controller listens there: ``who`` is named in that message), TransportError when no NATS
    server answers within ``timeout`` seconds.
    """
    return asyncio.run(_ask(address, timeout, security or ClientSecurity(), who))


async def _ask(address: Address, timeout: float, security: ClientSecurity, who: str) -> pb.Catalog:
    nats = import_nats()
    url = subjects.server_url(address)
    nc: Any = nats.NATS()
    try:
        await nc.connect(
            servers=[url],
            connect_timeout=min(2.0, max(0.1, timeout)),  # a NATS server greets at once
            allow_reconnect=False,
            **security_options(address, security),
        )
    except Exception as exc:
        if is_refusal(exc):
            raise ConnectionRefused(f"the NATS server at {address} refused {who}: {exc} (check the token)") from None
        theirs = await asyncio.get_running_loop().run_in_executor(None, speaker, address, security, 1.0)
        if theirs is not None and theirs != NATS:
            raise ConnectionRefused(mismatch(address, NATS, theirs, who)) from None
        raise TransportError(f"no NATS server answered at {url}: {exc!r}") from None
    nodes: dict[str, pb.NodeInfo] = {}
    last = time.monotonic()
    joiner = chunks.Joiner()

    async def on_answer(msg: Any) -> None:
        nonlocal last
        data = joiner.feed(msg.data)
        if data is None:
            return
        for frame in pb.Batch.FromString(data).frames:
            if frame.HasField("node_joined"):
                nodes[frame.node_joined.process_name] = frame.node_joined
                last = time.monotonic()

    try:
        inbox = nc.new_inbox()
        await nc.subscribe(inbox, cb=on_answer)
        await nc.publish(subjects.CATALOG, bytes([chunks.WHOLE]), reply=inbox)  # a Batch with no frames
        await nc.flush()
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if now - last >= subjects.GATHER_QUIET and now - start >= subjects.GATHER_QUIET:
                break
            if now - start >= subjects.GATHER_MAX:
                break
            await asyncio.sleep(subjects.GATHER_QUIET / 3)
    finally:
        await nc.close()
    return pb.Catalog(nodes=[nodes[name] for name in sorted(nodes)])
