"""The socket link: the socket transport, read by the threads that need what arrives.

Every thread sends (``Connection.send`` keeps frames whole). Reading is a role that one thread
holds at a time, so that a frame is parsed once and nothing is handed between threads that
need not be:

- a thread waiting for its reply (``wait``) takes the role and reads until its reply is in:
  the reply wakes the very thread that needs it, no other thread runs. Replies for other
  waiters it reads are handed to them; when it is done it hands the role to the next waiter,
  or keeps it for a moment (``_sticky``), since a caller in a loop comes straight back;
- otherwise a pump thread reads. The pump may run a plain sync callback itself before its next
  read (``inline()``; the callee decides), so a call costs no hand-off on the callee either;
  while it does, a waiter may take the role, and the node loop's watchdog starts another pump
  if the callback takes long (the callee then sends that callback to its worker threads);
- the pump also connects, and reconnects with backoff when the connection breaks.

Keepalive (PING every ``keepalive`` s, the connection dropped when none is answered within half
of that) and the watchdog run on the node's loop.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from daffi_core import framing
from daffi_core.address import Address
from daffi_core.errors import ConnectionRefused, TransportError
from daffi_core.framing import Encoded
from daffi_core.keepalive import DEFAULT_KEEPALIVE, keepalive_timeout
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CONNECT_METHOD
from daffi_core.security import ClientSecurity
from daffi_core.transport import SOCKET, Code
from daffi_core.transport.socket.client import Connection, open_connection
from daffi_core.transport.socket.wire import Body, Kind, data_frames
from google.protobuf.message import DecodeError

from daffi._link import Backoff, Handlers, LinkBase, Rejected
from daffi._runtime import Runtime

__all__ = ["SocketLink"]

log = logging.getLogger("daffi.node")
T = TypeVar("T")
#: How long a waiter that got its reply keeps the reading role for its next call, when this node
#: serves callbacks (their calls must not wait) and when it only calls (only its own replies come).
STICKY_SERVING = 0.002
STICKY_CALLING = 0.05
#: Seconds between the watchdog's looks at a pump running a callback inline.
WATCHDOG = 0.05
#: Bound on one connection attempt.
CONNECT_TIMEOUT = 10.0


class _Pump:
    """A pump thread's state (guarded by the link's lock)."""

    __slots__ = ("busy", "busy_since", "last", "reading", "thread")

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.reading = False  # inside Connection.receive
        self.busy = False  # running a callback inline
        self.busy_since = 0.0
        self.last = False  # delivering the last frame of what it read


class _Waiter:
    """A thread blocked in ``wait``: sleeps on a lock that its reply or a promotion releases."""

    __slots__ = ("_lock", "_woken", "ident", "idle", "idle_since", "queued", "reading")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._woken = False
        self.ident = threading.get_ident()
        self.idle = False  # done waiting, still holds the role (sticky)
        self.idle_since = 0.0
        self.queued = False
        self.reading = False

    def wake(self) -> None:
        if not self._woken:
            self._woken = True
            with contextlib.suppress(RuntimeError):  # woken twice at once: released already
                self._lock.release()

    def sleep(self, timeout: float | None) -> None:
        self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout))
        self._woken = False


class _Serving:
    """``SocketLink.serving()`` on the pump: it is busy, and hands reading over to a waiting thread."""

    __slots__ = ("_link", "_pump")

    def __init__(self, link: SocketLink, pump: _Pump) -> None:
        self._link = link
        self._pump = pump

    def __enter__(self) -> None:
        link, pump = self._link, self._pump
        with link._lock:
            pump.busy = True
            pump.busy_since = time.monotonic()
            if link._owner is pump:
                link._promote()

    def __exit__(self, *exc: object) -> None:
        with self._link._lock:
            self._pump.busy = False


_NOT_SERVING: contextlib.nullcontext[None] = contextlib.nullcontext()


class SocketLink(LinkBase):
    """A ``Link`` over the socket transport (see the module docstring)."""

    transport = SOCKET

    def __init__(
        self,
        process_name: str,
        address: Address,
        security: ClientSecurity,
        runtime: Runtime,
        handlers: Handlers,
        keepalive: float = DEFAULT_KEEPALIVE,
        serves: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(process_name, address, security, runtime, handlers, keepalive)
        self._serves = serves
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._conn: Connection | None = None
        self._owner: _Pump | _Waiter | None = None
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._active: _Pump | None = None
        self._stopped = threading.Event()

    # -- Link: sending
    def send(self, frames: Sequence[Encoded]) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.send(data_frames(frames))
        except TransportError as exc:
            self._broken(conn, str(exc))

    # -- Link: reading
    def wait(self, future: Future[T], timeout: float | None) -> T:
        if future.done() or self.runtime.on_loop:
            return future.result(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        me = _Waiter()
        future.add_done_callback(lambda _: self._done(me))
        try:
            while not future.done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise FutureTimeout
                conn = self._claim(me)
                if conn is None:
                    me.sleep(remaining)
                    continue
                self._read(conn, me, remaining)
            return future.result()
        finally:
            self._release(me)

    def _claim(self, me: _Waiter) -> Connection | None:
        """The connection, when ``me`` may read it now; else ``me`` is queued for the role."""
        with self._lock:
            conn = self._conn
            if conn is None or self.stopping:
                return None
            owner = self._owner
            if (
                owner is None
                or owner is me
                or (isinstance(owner, _Waiter) and owner.idle)
                or (isinstance(owner, _Pump) and (owner.busy or owner is not self._active))
            ):
                self._owner = me
                me.idle = False
                me.reading = True
                if me.queued:
                    me.queued = False
                    self._waiters.remove(me)
                return conn
            if not me.queued:
                me.queued = True
                self._waiters.append(me)
                if isinstance(owner, _Pump) and owner.reading:
                    conn.wake()  # ask the pump to hand the role over
            return None

    def _done(self, me: _Waiter) -> None:
        """``me``'s future completed (in whichever thread completed it)."""
        me.wake()
        if me.reading and threading.get_ident() != me.ident:
            conn = self._conn
            if conn is not None:
                conn.wake()  # it is blocked reading: its reply came another way (a failure, a timeout)

    def _release(self, me: _Waiter) -> None:
        with self._lock:
            if me.queued:
                me.queued = False
                self._waiters.remove(me)
            if self._owner is me and not self._promote():
                me.idle = True  # kept for a moment: a caller in a loop comes straight back
                me.idle_since = time.monotonic()

    def _promote(self) -> bool:
        """Give the role to the first queued waiter (lock held); False when none waits."""
        if not self._waiters:
            return False
        waiter = self._waiters.popleft()
        waiter.queued = False
        self._owner = waiter
        waiter.wake()
        return True

    def _sticky(self) -> float:
        return STICKY_SERVING if self._serves() else STICKY_CALLING

    def _deliver(self, conn: Connection, frames: list[tuple[Kind, Body]], pump: _Pump | None) -> None:
        on_frame = self.handlers.frame
        last = len(frames) - 1
        for index, (_, body) in enumerate(frames):
            try:
                items = pb.Batch.FromString(body).frames  # type: ignore[arg-type]  # any buffer parses
            except DecodeError as exc:
                log.error("the controller at %s sent a message that is not a daffi Batch (%s)", self.address, exc)
                self._broken(conn, "the controller sent a message that is not a daffi Batch")
                return
            if pump is None or index != last or not items:
                for frame in items:
                    on_frame(frame)
                continue
            for frame in items[:-1]:
                on_frame(frame)
            pump.last = True  # only the very last frame may run a callback inline: nothing waits behind it
            try:
                on_frame(items[-1])
            finally:
                pump.last = False

    def inline(self) -> bool:
        pump = self._active
        return pump is not None and pump.last and pump.thread is threading.current_thread()

    def serving(self) -> _Serving | contextlib.nullcontext[None]:
        pump = self._active
        if pump is None or pump.thread is not threading.current_thread():
            return _NOT_SERVING
        return _Serving(self, pump)

    # -- the pump
    def start(self, timeout: float) -> None:
        """Connect; raise InitializationError if no controller answers within ``timeout`` seconds."""
        self._spawn_pump()
        self.wait_first(timeout)

    def _spawn_pump(self) -> None:
        pump = _Pump()
        pump.thread = threading.Thread(target=self._pump_main, args=(pump,), name="daffi-reader", daemon=True)
        with self._lock:
            self._active = pump
            self._cond.notify_all()
        pump.thread.start()

    def _pump_main(self, pump: _Pump) -> None:
        backoff = Backoff()
        while not self.stopping and self._active is pump:
            conn = self._conn
            if conn is None:
                if self._connect_once(pump):
                    backoff.reset()
                elif not self.stopping and not (self.started and not self._first_ok()):
                    self._stopped.wait(backoff.next())
                elif self.started and not self._first_ok():
                    return  # the first connect failed for good
                continue
            if not self._take(pump, conn):
                continue
            self._read(conn, pump, None)

    def _read(self, conn: Connection, reader: _Pump | _Waiter, timeout: float | None) -> None:
        """One read by the holder of the role, and the delivery of what it brought."""
        try:
            frames = conn.receive(timeout, wakeable=True)
        except TransportError as exc:
            self._broken(conn, str(exc))
            return
        finally:
            reader.reading = False
        self._deliver(conn, frames, reader if isinstance(reader, _Pump) else None)

    def _connect_once(self, pump: _Pump) -> bool:
        try:
            return self._connect(pump)
        except Exception:  # the reader must outlive any surprise: it is the node's only way back
            log.exception("connecting to the controller at %s failed unexpectedly; retrying", self.address)
            return False

    def _first_ok(self) -> bool:
        return self._first.done() and self._first.exception() is None

    def _take(self, pump: _Pump, conn: Connection) -> bool:
        """Wait until ``pump`` holds the role on ``conn``; False when it should look again."""
        with self._lock:
            while True:
                if self.stopping or self._active is not pump or self._conn is not conn:
                    return False
                owner = self._owner
                timeout: float | None = None
                if owner is pump and self._waiters:
                    self._promote()
                    continue
                if owner is None or owner is pump or (isinstance(owner, _Pump) and owner is not self._active):
                    self._owner = pump
                    pump.reading = True
                    return True
                if isinstance(owner, _Waiter):
                    sticky = self._sticky()
                    if owner.idle:
                        left = owner.idle_since + sticky - time.monotonic()
                        if left <= 0 or owner.ident == threading.get_ident():
                            self._owner = pump
                            pump.reading = True
                            return True
                        timeout = left
                    else:
                        timeout = sticky  # it may finish and go idle without telling: look again then
                self._cond.wait(timeout)

    def _connect(self, pump: _Pump) -> bool:
        hello = framing.batch([framing.frame(self.hello_frame())])
        try:
            conn = open_connection(self.address, CONNECT_METHOD, self.security, CONNECT_TIMEOUT, first=[hello])
        except ConnectionRefused as exc:
            # another transport at the address: its message says so itself
            self._refused(str(exc), bare=exc.code == Code.FAILED_PRECONDITION)
            return False
        except TransportError as exc:
            log.debug("connection to %s failed: %s", self.address, exc)
            return False
        with self._lock:
            self._conn = conn
            self._owner = pump
        try:
            first = pb.Batch.FromString(bytes(conn.receive_one(CONNECT_TIMEOUT)))
            rest = self.welcomed(first)
        except Rejected as rejected:
            self._drop(conn)
            self._refused(str(rejected))
            return False
        except ConnectionRefused as exc:
            self._drop(conn)
            self._refused(str(exc))
            return False
        except (TransportError, ConnectionError, DecodeError) as exc:
            self._drop(conn)
            log.debug("handshake with %s failed: %s", self.address, exc)
            return False
        with self._lock:
            self._owner = None
            self._cond.notify_all()
        self.runtime.post(self._watch, conn)
        for frame in rest:
            self.handlers.frame(frame)
        return True

    def _refused(self, message: str, bare: bool = False) -> None:
        text = message if bare else f"the controller refused this node: {message}"
        if not self.give_up(text):
            log.error("the controller refused this node on reconnect: %s", message)

    def _drop(self, conn: Connection) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self._owner = None
        conn.close()

    def _broken(self, conn: Connection, reason: str) -> None:
        """``conn`` cannot be used any more: end the session (once), wake everyone, reconnect."""
        with self._lock:
            if self._conn is not conn:
                return
            self._conn = None
            self._owner = None
            waiters, self._waiters = list(self._waiters), collections.deque()
            for waiter in waiters:
                waiter.queued = False
                waiter.wake()
            active = self._active
            self._cond.notify_all()
        log.debug("connection to %s ended: %s", self.address, reason)
        conn.close()
        self.session_ended()
        if not self.stopping and active is not None and active.busy:
            self._spawn_pump()  # the pump runs a callback: another one reconnects meanwhile

    # -- on the node loop: keepalive and the watchdog
    def _watch(self, conn: Connection) -> None:
        loop = self.runtime.loop
        state = {"ping": loop.time() + self.keepalive, "sent": 0.0, "due": 0.0}

        def tick() -> None:
            if self._conn is not conn or self.stopping:
                return
            now = loop.time()
            if state["due"] and now >= state["due"]:
                state["due"] = 0.0
                if not conn.heard_since(state["sent"]):
                    timeout = keepalive_timeout(self.keepalive)
                    self._broken(conn, f"keepalive timeout (no answer to a ping within {timeout:g} s)")
                    return
            if now >= state["ping"]:
                try:
                    state["sent"] = conn.ping()
                except TransportError as exc:
                    self._broken(conn, str(exc))
                    return
                state["ping"] = now + self.keepalive
                state["due"] = now + keepalive_timeout(self.keepalive)
            pump = self._active
            if pump is not None and pump.busy and time.monotonic() - pump.busy_since > WATCHDOG:
                # A callback run inline takes long and nobody else reads: another pump takes over.
                self._spawn_pump()
            loop.call_later(min(WATCHDOG, self.keepalive / 4), tick)

        tick()

    # -- stopping
    def stop(self) -> None:
        """Close the connection (the controller is told) and end the pump."""
        self.stopping = True
        self._stopped.set()
        with self._lock:
            conn, self._conn = self._conn, None
            self._owner = None
            for waiter in self._waiters:
                waiter.wake()
            self._waiters.clear()
            pump = self._active
            self._cond.notify_all()
        if conn is not None:
            conn.close(Code.OK, "the node is stopping")
        self.session_ended()
        # A pump running a callback inline is not waited for (it is user code, as in a worker thread).
        thread = pump.thread if pump is not None and not pump.busy else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(2)
