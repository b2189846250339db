"""This process's node: a link to the controller with the caller, the callee and the catalog on it.

Also the process-wide state (the lowest module that needs it): which node runs here, and
whether this process is a fork of one that ran a node.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, Protocol, TypeAlias, cast

from daffi_core import framing
from daffi_core.address import Address
from daffi_core.errors import DaffiError, GlobalContextError, InitializationError, RemoteStoppedUnexpectedly
from daffi_core.keepalive import DEFAULT_KEEPALIVE
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import DOWNSTREAM, PROTOCOL_VERSION
from daffi_core.security import ClientSecurity
from daffi_core.transport import NATS, SOCKET, Transport

from daffi.__about__ import __version__
from daffi._callee import Callee
from daffi._caller import Caller
from daffi._catalog import Catalog
from daffi._link import Handlers, Link
from daffi._observe import Observer
from daffi._registry import REGISTRY
from daffi._runtime import Runtime
from daffi._workers import AsyncRunner, DaemonPool

__all__ = [
    "CallingNode",
    "Node",
    "attach",
    "check_not_forked",
    "current",
    "forked_from",
    "install",
    "running",
    "uninstall",
]

log = logging.getLogger("daffi.node")
#: ``hook(process_name)``: on_init, on_node_connect, on_node_disconnect (bound to the Global already).
Hook = Callable[[str], object]
#: The hooks a node runs.
HookName: TypeAlias = Literal["on_init", "on_node_connect", "on_node_disconnect"]
#: Seconds open calls get to finish when the node stops, at most.
_DRAIN_POLL = 0.01


class CallingNode(Protocol):
    """What a fetcher calls through: ``Node``, or the in-process fakes of ``daffi.testing``."""

    process_name: str
    catalog: Catalog
    caller: Caller
    link: Link

    @property
    def connected(self) -> bool:
        """Calls can be sent now."""

    @property
    def runner(self) -> AsyncRunner:
        """Runs the coroutine body of an ``args_from_body`` fetcher."""


class Node:
    """The node of this process: connects, serves, calls, and keeps its view of the other nodes."""

    def __init__(
        self,
        owner: object,
        process_name: str,
        address: Address,
        security: ClientSecurity,
        transport: Transport,
        runtime: Runtime,
        pool: DaemonPool,
        runner: AsyncRunner,
        hooks: Mapping[HookName, Hook | None],
        *,
        keepalive: float = DEFAULT_KEEPALIVE,
        max_pending_calls: int | None = None,
        observer: Observer | None = None,
    ) -> None:
        #: What a callback's ``g`` parameter and the hooks receive (the Global).
        self.owner = owner
        self.process_name = process_name
        self.address = address
        self.transport = transport
        self.runtime = runtime
        self.pool = pool
        self.runner = runner
        self._hooks = hooks
        self.catalog = Catalog()
        handlers = Handlers(hello=self._hello, connected=self._welcome, frame=self._frame, disconnected=self._gone)
        if transport == SOCKET:
            from daffi._socket_link import SocketLink

            self.link: Link = SocketLink(
                process_name, address, security, runtime, handlers, keepalive, serves=lambda: bool(REGISTRY.names())
            )
        elif transport == NATS:
            from daffi._nats_link import NatsLink  # nats-py is imported only by nodes that speak it

            self.link = NatsLink(process_name, address, security, runtime, handlers, keepalive)
        else:
            from daffi._grpc_link import GrpcLink  # grpc is imported only by nodes that speak it

            self.link = GrpcLink(process_name, address, security, runtime, handlers, keepalive)
        self.caller = Caller(self.link, max_pending_calls, observer)
        self.callee = Callee(self.link, pool, runner, owner, observer)
        self._unlisten = REGISTRY.listen(self._announce_soon)

    # -- lifecycle (user threads)
    def start(self, timeout: float) -> None:
        """Connect; raise InitializationError if no controller answers within ``timeout`` seconds."""
        self.link.start(timeout)

    def stop(self, grace: float) -> None:
        """Let open calls finish for up to ``grace`` seconds, flush what is queued, disconnect."""
        self._unlisten()
        deadline = time.monotonic() + grace
        while self.caller.open_calls and time.monotonic() < deadline:
            time.sleep(_DRAIN_POLL)  # open calls settle on other threads; nothing to wait on here
        self.link.stop()
        self.caller.fail_all(RemoteStoppedUnexpectedly(f"node {self.process_name!r} was stopped"))
        self.runtime.run(self.callee.close(), 5)

    @property
    def connected(self) -> bool:
        return bool(self.link.connected)

    # -- what the link calls
    def _hello(self) -> pb.Hello:
        return pb.Hello(
            protocol_version=PROTOCOL_VERSION,
            process_name=self.process_name,
            callbacks=REGISTRY.signatures(),
            client_version=__version__,
        )

    def _welcome(self, welcome: pb.Welcome) -> None:
        joined, left = self.catalog.replace(welcome.nodes)
        for name in sorted(left):
            self._hook("on_node_disconnect", name)
        for name in sorted(joined):
            self._hook("on_node_connect", name)
        if not getattr(self, "_initialized", False):
            self._initialized = True
            self._hook("on_init", self.process_name)

    def _frame(self, frame: pb.Frame) -> None:
        body = frame.WhichOneof("body")
        if body == "message":
            msg = frame.message
            if msg.kind in DOWNSTREAM:
                self.callee.on_message(msg)
            else:
                self.caller.on_message(msg)
        elif body == "node_joined":
            if self.catalog.join(frame.node_joined):
                self._hook("on_node_connect", frame.node_joined.process_name)
        elif body == "node_left" and self.catalog.leave(frame.node_left.process_name):
            self._hook("on_node_disconnect", frame.node_left.process_name)

    def _gone(self) -> None:
        self.caller.fail_all(
            RemoteStoppedUnexpectedly(
                f"the {self.link.server_kind} at {self.address} went away during the call (the connection was lost; "
                "this node is reconnecting)"
            )
        )
        self.callee.drop_all()
        _, left = self.catalog.replace(())
        for name in sorted(left):
            self._hook("on_node_disconnect", name)

    def _announce_soon(self) -> None:
        if self.link.connected:
            callbacks = pb.CallbackList(callbacks=REGISTRY.signatures())
            self.link.send([framing.frame(pb.Frame(callbacks=callbacks))])

    def _hook(self, name: HookName, process_name: str) -> None:
        hook = self._hooks.get(name)
        if hook is None:
            return
        runner = self.runner

        def run() -> None:
            try:
                result = hook(process_name)
                if hasattr(result, "__await__"):
                    coro = cast("Awaitable[object]", result)

                    async def awaited() -> object:
                        return await coro

                    runner.submit(awaited).result()
            except Exception:
                log.exception("%s hook failed for %r", name, process_name)

        self.pool.submit(run)


# ---------------------------------------------------------------- process-wide state

_lock = threading.Lock()
#: (the running Global, its node or None) of this process.
_current: tuple[object, CallingNode | None] | None = None
#: Set in a child forked from a process that ran a node: its threads did not survive the fork.
_forked_from: int | None = None
FORK_ADVICE = (
    "this process was forked from process {pid}, which runs a daffi Global; its node (threads, "
    "connection) does not exist in the fork. Create Global in the child before calling, from a child "
    "started with multiprocessing's 'spawn' or 'forkserver' method, or with subprocess."
)


def _after_fork_in_child() -> None:
    global _forked_from
    if _current is not None:
        _forked_from = os.getppid()
        # The inherited gRPC objects belong to threads that do not exist here: freeing them would
        # call into gRPC's core with the parent's locks held. Keep the collector away from them.
        gc.freeze()


os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_from() -> int | None:
    """The parent's pid when this process is a fork of one that ran a Global."""
    return _forked_from


def check_not_forked() -> None:
    if _forked_from is not None:
        raise DaffiError(FORK_ADVICE.format(pid=_forked_from))


def install(owner: object, describe: str) -> None:
    """Make ``owner`` this process's running Global; InitializationError when one runs already."""
    global _current
    with _lock:
        if _current is not None:
            raise InitializationError(f"a Global ({describe}) is already running in this process: stop() it first")
        _current = (owner, None)


def attach(owner: object, node: CallingNode) -> None:
    """``node`` is ``owner``'s."""
    global _current
    with _lock:
        if _current is not None and _current[0] is owner:
            _current = (owner, node)


def uninstall(owner: object) -> None:
    global _current
    with _lock:
        if _current is not None and _current[0] is owner:
            _current = None


def running() -> object:
    """The running Global (or ``daffi.testing``'s fake nodes), or None."""
    current = _current
    return current[0] if current is not None else None


def current(for_name: str = "") -> CallingNode:
    """The node of the running Global (what a fetcher without a Global of its own calls through)."""
    check_not_forked()
    current = _current
    if current is None:
        what = f" to call {for_name!r}" if for_name else ""
        raise InitializationError(f"no Global is running in this process{what}: create Global(...) first")
    if current[1] is None:
        raise GlobalContextError("this Global runs no node (init_node=False): it cannot make remote calls")
    return current[1]
