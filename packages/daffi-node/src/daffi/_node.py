"""The node's connection to the controller: handshake, frames in and out, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import grpc
from daffi_core import framing
from daffi_core.address import Address
from daffi_core.channel import DEFAULT_KEEPALIVE, client_options
from daffi_core.errors import InitializationError, RemoteStoppedUnexpectedly
from daffi_core.framing import Encoded
from daffi_core.outbox import Outbox
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CONNECT_METHOD, DOWNSTREAM, PROTOCOL_VERSION
from daffi_core.security import ClientSecurity as Security

from daffi.__about__ import __version__
from daffi._callee import Callee
from daffi._caller import Caller
from daffi._catalog import Catalog
from daffi._registry import REGISTRY
from daffi._workers import AsyncRunner, DaemonPool

if TYPE_CHECKING:
    from daffi._global import Global

log = logging.getLogger("daffi.node")
Hook = Callable[..., Any]


class _Rejected(Exception):
    def __init__(self, reject: pb.Reject) -> None:
        super().__init__(reject.message)
        self.reason = reject.reason


class Node:
    """Keeps one stream to the controller open, reconnecting when it breaks."""

    def __init__(
        self,
        g: Global,
        process_name: str,
        address: Address,
        security: Security,
        loop: asyncio.AbstractEventLoop,
        pool: DaemonPool,
        runner: AsyncRunner,
        hooks: dict[str, Hook | None],
        *,
        keepalive: float = DEFAULT_KEEPALIVE,
    ) -> None:
        self.g = g
        self.keepalive = keepalive
        self.process_name = process_name
        self.address = address
        self.security = security
        self.loop = loop
        self.pool = pool
        self.runner = runner
        self._hooks = hooks
        self.catalog = Catalog()
        self.caller = Caller(self)
        self.callee = Callee(self)
        self.connected = False
        self.connected_event = threading.Event()
        self._outbox: Outbox | None = None
        self._first: Future[None] = Future()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._call: Any = None
        self._writer: asyncio.Task[None] | None = None
        self._posted: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._posted_lock = threading.Lock()
        self._unlisten = REGISTRY.listen(self._announce_soon)

    # -- lifecycle (called from user threads)
    def start(self, timeout: float) -> None:
        """Connect; raise InitializationError if no controller answers within ``timeout`` seconds."""
        self.post(self._spawn)
        try:
            self._first.result(timeout)
        except FutureTimeout:
            raise InitializationError(
                f"no daffi controller answered at {self.address} within {timeout:g} s: start one there "
                "(daffi-controller, or Global(init_controller=True)) or fix host/port/unix_sock_path"
            ) from None

    def _spawn(self) -> None:
        self._task = self.loop.create_task(self._run())

    async def stop(self, grace: float) -> None:
        """Let open calls finish for up to ``grace`` seconds, flush what is queued, disconnect."""
        self._stopping = True
        self._unlisten()
        deadline = time.monotonic() + grace
        while self.caller.open_calls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._outbox is not None:
            self._outbox.close()
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self.caller.fail_all(RemoteStoppedUnexpectedly(f"node {self.process_name!r} was stopped"))
        await self.callee.close()

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the node loop, from any thread, in the order posted.

        Posts made while the loop is busy share one wake-up: under load many calls cost a
        single ``call_soon_threadsafe`` (a syscall each) instead of one apiece.
        """
        with self._posted_lock:
            self._posted.append((fn, args))
            if len(self._posted) > 1:
                return
        try:
            self.loop.call_soon_threadsafe(self._run_posted)
        except RuntimeError:  # the loop is closed: the node is gone, and so is what was posted
            with self._posted_lock:
                self._posted.clear()
            raise

    def _run_posted(self) -> None:
        with self._posted_lock:
            posted, self._posted = self._posted, []
        for fn, args in posted:
            try:
                fn(*args)
            except Exception:
                log.exception("node loop job %r failed", fn)

    # -- node loop
    def send(self, frames: list[Encoded]) -> None:
        outbox = self._outbox
        if outbox is not None:
            for frame in frames:
                outbox.put(frame)

    async def _run(self) -> None:
        channel = self.security.channel(self.address.target, client_options(self.keepalive))
        # Batches go out already serialized (daffi_core.framing) and come in parsed.
        connect: grpc.aio.StreamStreamMultiCallable[bytes, pb.Batch] = channel.stream_stream(
            CONNECT_METHOD, request_serializer=None, response_deserializer=pb.Batch.FromString
        )
        backoff = 0.05
        try:
            while not self._stopping:
                established = False
                try:
                    established = await self._session(connect)
                except _Rejected as rejected:
                    if not self._first.done():
                        self._first.set_exception(InitializationError(f"the controller refused this node: {rejected}"))
                        return
                    log.error("the controller refused this node on reconnect: %s", rejected)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                        log.debug("connection to %s ended: %r", self.address, exc)
                    elif not self._first.done():
                        self._first.set_exception(
                            InitializationError(f"the controller refused this node: {exc.details()}")
                        )
                        return
                    else:
                        log.error("the controller refused this node on reconnect: %s", exc.details())
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # gRPC errors, a dropped stream
                    log.debug("connection to %s ended: %r", self.address, exc)
                finally:
                    was_connected = self.connected
                    self._disconnected()
                    if was_connected and not self._stopping:
                        log.warning("lost the connection to the controller at %s; reconnecting", self.address)
                if established:
                    backoff = 0.05
                if self._stopping:
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        finally:
            with contextlib.suppress(Exception):
                await channel.close(None)

    async def _session(self, connect: grpc.aio.StreamStreamMultiCallable[bytes, pb.Batch]) -> bool:
        call = connect(metadata=self.security.metadata)
        self._call = call
        hello = pb.Hello(
            protocol_version=PROTOCOL_VERSION,
            process_name=self.process_name,
            callbacks=REGISTRY.signatures(),
            client_version=__version__,
        )
        await call.write(framing.batch([framing.frame(pb.Frame(hello=hello))]))
        first = await call.read()
        if not isinstance(first, pb.Batch) or not first.frames:
            raise ConnectionError("the controller closed the stream during the handshake")
        head = first.frames[0]
        if head.HasField("reject"):
            raise _Rejected(head.reject)
        if not head.HasField("welcome"):
            raise ConnectionError("the controller did not answer Hello with Welcome")
        self._outbox = Outbox()
        self.connected = True
        self.connected_event.set()
        joined, left = self.catalog.replace(head.welcome.nodes)
        for name in sorted(left):
            self._hook("on_node_disconnect", name)
        for name in sorted(joined):
            self._hook("on_node_connect", name)
        if not self._first.done():
            self._first.set_result(None)
            self._hook("on_init", self.process_name)
        log.info("node %r connected to the controller at %s", self.process_name, self.address)
        for frame in first.frames[1:]:
            self._on_frame(frame)
        self._writer = asyncio.get_running_loop().create_task(self._write(call, self._outbox))
        try:
            while True:
                batch = await call.read()
                if not isinstance(batch, pb.Batch):
                    return True
                for frame in batch.frames:
                    self._on_frame(frame)
        finally:
            self._writer.cancel()

    @staticmethod
    async def _write(call: Any, outbox: Outbox) -> None:
        while (batch := await outbox.next_batch()) is not None:
            await call.write(batch)
        with contextlib.suppress(Exception):
            await call.done_writing()

    def _disconnected(self) -> None:
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        self.connected = False
        self.connected_event.clear()
        where = f"at {self.address}"
        self.caller.fail_all(RemoteStoppedUnexpectedly(f"Lost connection to the controller {where}."))
        self.callee.drop_all()
        _, left = self.catalog.replace(())
        for name in sorted(left):
            self._hook("on_node_disconnect", name)

    def _on_frame(self, frame: pb.Frame) -> None:
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

    def _announce_soon(self) -> None:
        self.post(self._announce)

    def _announce(self) -> None:
        if self.connected:
            self.send([framing.frame(pb.Frame(callbacks=pb.CallbackList(callbacks=REGISTRY.signatures())))])

    def _hook(self, name: str, process_name: str) -> None:
        hook = self._hooks.get(name)
        if hook is None:
            return

        def run() -> None:
            try:
                result = hook(self.g, process_name)
                if asyncio.iscoroutine(result):

                    async def awaited() -> Any:
                        return await result

                    self.runner.submit(awaited).result()
            except Exception:
                log.exception("%s hook failed for %r", name, process_name)

        self.pool.submit(run)
