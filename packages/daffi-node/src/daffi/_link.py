"""The link layer: one connection to the controller, as the layers above see it.

``Link`` is all that caller and callee know of the connection (they never see ``Node`` or
``Global``); ``Handlers`` is how the connection reaches up to them, as callables. Three links
implement it: ``GrpcLink`` (``_grpc_link``: a gRPC stream driven by the node's loop),
``SocketLink`` (``_socket_link``: the socket transport, read by the threads that wait for
replies) and ``NatsLink`` (``_nats_link``: no controller; the link routes over a NATS
server). ``LinkBase`` holds what they share: the first connect, the connection state, the
handshake's answer and reconnect backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, TypeVar

from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.framing import Encoded
from daffi_core.keepalive import DEFAULT_KEEPALIVE
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.security import ClientSecurity

from daffi._runtime import Runtime, Timer

__all__ = [
    "BACKOFF_JITTER",
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "Backoff",
    "Handlers",
    "Link",
    "LinkBase",
    "LoopLink",
    "Rejected",
]

log = logging.getLogger("daffi.node")
T = TypeVar("T")
#: Reconnect backoff: the first retry after this many seconds, doubling up to ``BACKOFF_MAX``.
BACKOFF_MIN = 0.05
BACKOFF_MAX = 1.0
#: Each delay is scaled by a random factor within ``1 ± BACKOFF_JITTER``: nodes that lost the same
#: controller do not all retry at the same instants when it comes back.
BACKOFF_JITTER = 0.2
#: Seconds the first connect waits silently; then one line says where it waits, and for how long.
QUIET_WAIT = 1.0


class Link(Protocol):
    """One connection to the controller. Every method may be called from any thread."""

    process_name: str
    address: Address
    #: What is at ``address``, for messages: ``"controller"``, or ``"NATS server"``.
    server_kind: str

    @property
    def connected(self) -> bool:
        """A session with the controller is established."""

    def start(self, timeout: float) -> None:
        """Connect; raise InitializationError if no controller answers within ``timeout`` seconds."""

    def stop(self) -> None:
        """Flush what is queued and disconnect (the controller is told); no reconnecting after."""

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or ``timeout`` seconds pass (False)."""

    def send(self, frames: Sequence[Encoded]) -> None:
        """Send frames to the controller in this order; dropped when not connected."""

    def post(self, fn: Callable[..., None], *args: object) -> None:
        """Run ``fn(*args)`` on the node's loop."""

    def call_later(self, delay: float, fn: Callable[..., None], *args: object) -> Timer:
        """Run ``fn(*args)`` on the node's loop after ``delay`` seconds."""

    def wait(self, future: Future[T], timeout: float | None) -> T:
        """Block until ``future`` is done, reading the connection meanwhile if this link can.

        Raises ``concurrent.futures.TimeoutError`` after ``timeout`` seconds.
        """

    def inline(self) -> bool:
        """The calling thread delivers frames and may run a short sync callback before its next read."""

    def serving(self) -> AbstractContextManager[None]:
        """Around user code run inline: the connection is read by another thread meanwhile if needed."""


@dataclass(frozen=True)
class Handlers:
    """What a link calls, from the thread that delivers (the loop, or a reading thread)."""

    #: The Hello to open each session with (callbacks change between reconnects).
    hello: Callable[[], pb.Hello]
    #: A session began: the controller's Welcome.
    connected: Callable[[pb.Welcome], None]
    #: A frame of the session (after the Welcome).
    frame: Callable[[pb.Frame], None]
    #: The session ended (every open call has to fail; a reconnect follows unless stopping).
    disconnected: Callable[[], None]


class Rejected(Exception):
    """The controller answered Hello with Reject."""

    def __init__(self, reject: pb.Reject) -> None:
        super().__init__(reject.message)
        self.reason = reject.reason


class LinkBase:
    """State and steps shared by the links: first connect, connected state, handshake answer."""

    #: The transport's name, for messages (set by each link).
    transport = ""
    #: What the link connects to, for messages: "the controller at ...", "a daffi controller".
    server_kind = "controller"
    server_name = "daffi controller"

    def __init__(
        self,
        process_name: str,
        address: Address,
        security: ClientSecurity,
        runtime: Runtime,
        handlers: Handlers,
        keepalive: float = DEFAULT_KEEPALIVE,
    ) -> None:
        self.process_name = process_name
        self.address = address
        self.security = security
        self.runtime = runtime
        self.handlers = handlers
        self.keepalive = keepalive
        self._connected = False
        self._connected_event = threading.Event()
        self._first: Future[None] = Future()
        self.stopping = False

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_connected(self, timeout: float) -> bool:
        return self._connected_event.wait(timeout)

    def post(self, fn: Callable[..., None], *args: object) -> None:
        self.runtime.post(fn, *args)

    def call_later(self, delay: float, fn: Callable[..., None], *args: object) -> Timer:
        return self.runtime.call_later(delay, fn, *args)

    def wait_first(self, timeout: float) -> None:
        """Block until the first session began; InitializationError if it cannot within ``timeout`` s.

        Still waiting after ``QUIET_WAIT`` seconds, it logs (once) where it waits and for how long.
        """
        try:
            try:
                self._first.result(min(QUIET_WAIT, timeout))
            except FutureTimeout:
                if timeout <= QUIET_WAIT:
                    raise
                log.warning(
                    "node %r is waiting for a %s at %s (transport %s); giving up after %g s "
                    "(Global(connect_timeout=...))",
                    self.process_name,
                    self.server_name,
                    self.address,
                    self.transport,
                    timeout,
                )
                self._first.result(timeout - QUIET_WAIT)
        except FutureTimeout:
            controller = self.server_kind == "controller"
            start = "(daffi-controller, or Global(init_controller=True))" if controller else "(nats-server)"
            raise InitializationError(
                f"no {self.server_name} answered at {self.address} within {timeout:g} s: start one there "
                f"{start} or fix host/port/unix_sock_path"
            ) from None

    @property
    def started(self) -> bool:
        """The first session began (or the first connect failed for good)."""
        return self._first.done()

    def give_up(self, message: str) -> bool:
        """Fail the first connect with ``message``; False when it had already succeeded (keep retrying)."""
        if self._first.done():
            return False
        self._first.set_exception(InitializationError(message))
        return True

    def hello_frame(self) -> pb.Frame:
        return pb.Frame(hello=self.handlers.hello())

    def welcomed(self, first: pb.Batch | None) -> list[pb.Frame]:
        """Take the controller's answer to Hello; the frames that came after the Welcome.

        Raises Rejected, or ConnectionError for anything but a Welcome.
        """
        if first is None or not first.frames:
            raise ConnectionError("the controller closed the stream during the handshake")
        head = first.frames[0]
        if head.HasField("reject"):
            raise Rejected(head.reject)
        if not head.HasField("welcome"):
            raise ConnectionError("the controller did not answer Hello with Welcome")
        self._connected = True
        self._connected_event.set()
        self.handlers.connected(head.welcome)
        if not self._first.done():
            self._first.set_result(None)
        log.info("node %r connected to the %s at %s", self.process_name, self.server_kind, self.address)
        return list(first.frames[1:])

    def session_ended(self) -> None:
        """The session is over: tell the layers above (once per session)."""
        was_connected = self._connected
        self._connected = False
        self._connected_event.clear()
        if was_connected:
            self.handlers.disconnected()
            if not self.stopping:
                log.warning("lost the connection to the %s at %s; reconnecting", self.server_kind, self.address)


class LoopLink(LinkBase):
    """A link whose connection lives on the node's loop as one task (``_run``, ended by ``_stop``).

    Frames from any thread are posted to the loop (``_send_on_loop``), replies come as futures, and
    user code never runs on the loop, since it carries every call of the node.
    """

    _task: asyncio.Task[None] | None = None

    def send(self, frames: Sequence[Encoded]) -> None:
        """Hand ``frames`` to ``_send_on_loop`` on the loop (directly when already on it)."""
        if self.runtime.on_loop:
            self._send_on_loop(frames)
        else:
            self.runtime.post(self._send_on_loop, frames)

    def wait(self, future: Future[T], timeout: float | None) -> T:
        """The future's result: the loop delivers it, nothing to read here."""
        return future.result(timeout)

    def inline(self) -> bool:
        """Never: frames are delivered on the loop."""
        return False

    def serving(self) -> AbstractContextManager[None]:
        """Nothing to do: the loop keeps reading while user code runs elsewhere."""
        return nullcontext()

    def start(self, timeout: float) -> None:
        """Connect; raise InitializationError if nothing answers within ``timeout`` seconds."""
        self._prepare()
        self.runtime.post(self._spawn)
        self.wait_first(timeout)

    def stop(self) -> None:
        """Flush what is queued and disconnect (``_stop`` on the loop, bounded)."""
        self.runtime.run(self._stop(), 5)

    def _spawn(self) -> None:
        self._task = self.runtime.loop.create_task(self._run())

    def _prepare(self) -> None:
        """Before the loop task starts, in the caller of ``start`` (what fails here fails at once)."""

    def _send_on_loop(self, frames: Sequence[Encoded]) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        raise NotImplementedError

    async def _stop(self) -> None:
        raise NotImplementedError


class Backoff:
    """Delays between reconnect attempts: doubling from ``low`` up to ``high``, each with jitter."""

    def __init__(
        self,
        low: float = BACKOFF_MIN,
        high: float = BACKOFF_MAX,
        jitter: float = BACKOFF_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        self.low = low
        self.high = high
        self.jitter = jitter
        self._random = rng or random.Random()
        self._base = low

    def next(self) -> float:
        """The delay before the next attempt (then the base doubles, up to ``high``)."""
        base = self._base
        self._base = min(base * 2, self.high)
        return base * self._random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        """A session was established: the next loss starts again from ``low``."""
        self._base = self.low
