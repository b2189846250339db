"""The caller's side of calls: open calls, their replies, timeouts and credit.

User threads open calls and send their frames over the ``Link`` themselves; replies are settled
by whichever thread delivers them (the node's loop, or a thread reading the socket link: often
the very thread that waits). Replies stay raw bytes until the waiting thread decodes them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any, Generic, Literal, NamedTuple, TypeAlias, TypeVar

from daffi_core.errors import DaffiError, PendingCallsLimitExceeded, RemoteStoppedUnexpectedly, TimeoutError
from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.stats import ERROR, OK, STOPPED, TIMEOUT, outcome_of

from daffi import _serde
from daffi._bridge import Condition, interrupted, wait
from daffi._errors import from_wire
from daffi._link import Link
from daffi._modifiers import Modifier
from daffi._observe import Ended, Observer
from daffi._runtime import Timer
from daffi._wire import Assembler, frames

__all__ = [
    "CallKind",
    "Caller",
    "ITEMS_PER_FRAME",
    "ItemQueue",
    "Pending",
    "RemoteIterator",
    "Reply",
    "SLOW_PRODUCER",
    "STREAM_WINDOW",
    "Settled",
    "YIELD_ACK_EVERY",
    "call_head",
    "decode",
]

Y = TypeVar("Y")
T = TypeVar("T")
#: What an open call waits for: one receiver's reply (``"one"``), every receiver's (``"all"``: a
#: BROADCAST), the items and replies of a STREAM (``"stream"``) or a generator's items (``"gen"``).
CallKind: TypeAlias = Literal["one", "all", "stream", "gen"]
#: Items a stream sender may have in flight beyond the slowest receiver's acknowledgement.
STREAM_WINDOW = 512
#: Stream items pickled together into one ITEM frame.
ITEMS_PER_FRAME = 64
#: Seconds a producer may take for one item before the sender stops grouping its items.
SLOW_PRODUCER = 0.001
#: A generator consumer acknowledges every this many items.
YIELD_ACK_EVERY = 32
_ENDED = object()
_COND_LOCK = threading.Lock()


class Reply(NamedTuple):
    """One callee's final word (or one generator item), still serialized."""

    peer: str
    payload: bytes
    encoding: int
    error: pb.Error | None


#: What an open call's future settles with: the reply, or the replies by receiver (``"all"``, ``"stream"``;
#: a single reply when the controller refused the call as a whole). None: a STREAM pushed from a thread.
Settled: TypeAlias = "Reply | dict[str, Reply] | None"


def decode(reply: Reply) -> Any:
    """The value of a reply (the callback's result: a user's value), or its error raised."""
    if reply.error is not None:
        raise from_wire(reply.error, reply.peer)
    if not reply.encoding:
        return None
    return _serde.loads(reply.payload, reply.encoding)


class ItemQueue:
    """Items of a remote generator, handed from the node loop to the consumer (any thread)."""

    def __init__(self) -> None:
        self._items: deque[Reply] = deque()
        self._cond = Condition()
        self.end: Reply | BaseException | None = None

    def put(self, item: Reply) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def finish(self, end: Reply | BaseException) -> None:
        with self._cond:
            if self.end is None:
                self.end = end
            self._cond.notify_all()

    def _next(self) -> Reply | object | None:
        if self._items:
            return self._items.popleft()
        return _ENDED if self.end is not None else None

    def take(self) -> Reply | None:
        """The next item; None once the generator ended (its end is in ``end``)."""
        item = self._cond.until(self._next)
        return item if isinstance(item, Reply) else None

    async def take_async(self) -> Reply | None:
        item = await self._cond.until_async(self._next, "remote generator")
        return item if isinstance(item, Reply) else None


class Pending:
    """One open call: what it waits for and what has arrived."""

    def __init__(self, call_id: int, name: str, kind: CallKind, timeout: float | None) -> None:
        self.call_id = call_id
        self.name = name
        self.kind = kind
        self.timeout = timeout
        self.future: Future[Settled] = Future()
        self.expected: set[str] | None = None
        self.replies: dict[str, Reply] = {}
        self.acks: dict[str, int] = {}
        self._cond: threading.Condition | None = None
        self.items = ItemQueue() if kind == "gen" else None
        self.timer: Timer | None = None
        #: An observer's, told the outcome just before the future settles (so a caller that wakes up
        #: finds it counted; reading the outcome back from the future would take its lock thrice).
        self.ended: Ended | None = None

    @property
    def cond(self) -> threading.Condition:
        """Guards replies and acknowledgements of calls with several receivers (made when first needed)."""
        cond = self._cond
        if cond is None:
            with _COND_LOCK:
                if self._cond is None:
                    self._cond = threading.Condition()
                cond = self._cond
        return cond

    @property
    def done(self) -> bool:
        return self.future.done()

    def accepted(self, targets: set[str]) -> bool:
        with self.cond:
            self.expected = targets
            self.cond.notify_all()
        return self._complete_if_all()

    def reply(self, reply: Reply) -> bool:
        """Record a final reply; True when the call is complete."""
        if self.kind in ("one", "gen") or (self.expected is None and not reply.peer):
            if self.items is not None:
                self.items.finish(reply)
            if not self.future.done():
                if self.ended is not None:
                    self.ended(outcome_of(reply.error))
                self.future.set_result(reply)
            return True
        with self.cond:
            self.replies[reply.peer] = reply
            self.cond.notify_all()
        return self._complete_if_all()

    def _complete_if_all(self) -> bool:
        if self.expected is not None and self.expected <= self.replies.keys():
            if not self.future.done():
                if self.ended is not None:
                    self.ended(_outcome_of_replies(self.replies))
                self.future.set_result(dict(self.replies))
            return True
        return False

    def fail(self, exc: BaseException) -> None:
        if self.items is not None:
            self.items.finish(exc)
        if not self.future.done():
            if self.ended is not None:
                self.ended(_outcome_of_exception(exc))
            self.future.set_exception(exc)
        if self._cond is not None:
            with self._cond:
                self._cond.notify_all()

    def slowest_ack(self, sent: int) -> int:
        """Items every receiver still working has acknowledged (0 before the targets are known)."""
        if self.expected is None:
            return 0
        working = [self.acks.get(t, 0) for t in self.expected if t not in self.replies]
        return min(working, default=sent)


def call_head(
    name: str,
    mod: Modifier | None = None,
    *,
    fanout: int = pb.CallHead.ONE,
    action: int = pb.CallHead.RUN,
    target: str = "",
    schedule: pb.Schedule | None = None,
) -> pb.CallHead:
    """The header of a call: the one place where every kind of call gets it."""
    head = pb.CallHead(name=name, return_result=mod.return_result if mod is not None else True)
    # Fields left at their defaults are not set: each one set costs, on the hot path of every call.
    if fanout:
        head.fanout = pb.CallHead.Fanout.ValueType(fanout)
    if action:
        head.action = pb.CallHead.Action.ValueType(action)
    if target:
        head.target = target
    if mod is not None:
        if mod.name != "FG":  # FG, the most common, is the empty default: nothing to send
            head.modifier = mod.name
        if mod.timeout:
            head.timeout = mod.timeout
        if mod.eta:
            head.eta = mod.eta
    if schedule is not None:
        head.schedule.CopyFrom(schedule)
    return head


class _Cancelled(DaffiError):
    """The caller gave up on a call (left a generator early, cancelled it)."""


def _outcome_of_exception(exc: BaseException) -> str:
    """The outcome label of a call that failed with ``exc``."""
    if isinstance(exc, (_Cancelled, RemoteStoppedUnexpectedly)):
        return STOPPED
    return TIMEOUT if isinstance(exc, TimeoutError) else ERROR


def _outcome_of_replies(replies: dict[str, Reply]) -> str:
    """The outcome label of a call with several receivers: the first receiver that failed says how."""
    for reply in replies.values():
        if reply.error is not None:
            return outcome_of(reply.error)
    return OK


class Caller:
    """Opens calls over the link and settles them as replies arrive (any thread).

    ``observer`` (metrics, tracing) hears of each call opened and of its outcome.
    """

    def __init__(self, link: Link, max_pending: int | None = None, observer: Observer | None = None) -> None:
        self._link = link
        self._max_pending = max_pending
        self._observer = observer
        self._ids = itertools.count(1)
        self._pending: dict[int, Pending] = {}
        self._lock = threading.Lock()
        #: Per thread, the call it opened last (see ``cancel_opened``).
        self._opened = threading.local()
        self._assembler = Assembler()

    # -- user threads
    def open(self, head: pb.CallHead, payload: bytes, encoding: int, kind: CallKind, timeout: float | None) -> Pending:
        """Send a CALL and return its pending record (failed at once when not connected)."""
        pending = Pending(next(self._ids), head.name, kind, timeout)
        self._opened.pending = pending
        if self._observer is not None:
            pending.ended = self._observer.calling(head)  # before the head is encoded: it may carry trace context
        out = frames(pb.Message.CALL, pending.call_id, "", payload, encoding, head=head)
        link = self._link
        if not link.connected:
            pending.fail(self._not_connected(pending))
            return pending
        with self._lock:
            if self._max_pending is not None and len(self._pending) >= self._max_pending:
                raise PendingCallsLimitExceeded(
                    f"call to {head.name!r} not sent: {len(self._pending)} calls are open, the limit of "
                    f"Global(max_pending_calls={self._max_pending}); collect results (AsyncResult.get()) "
                    "before opening more, or raise the limit"
                )
            self._pending[pending.call_id] = pending
        if timeout is not None:
            pending.timer = link.call_later(timeout, self._expire, pending)
        link.send(out)
        if not link.connected:  # the connection went while this call was registered: fail_all may have missed it
            self._drop(pending, self._not_connected(pending))
        return pending

    def _not_connected(self, pending: Pending) -> RemoteStoppedUnexpectedly:
        return RemoteStoppedUnexpectedly(
            f"call to {pending.name!r} failed: not connected to the {self._link.server_kind} at {self._link.address}"
        )

    def wait(self, future: Future[T], timeout: float | None) -> T:
        """Block for ``future`` (the link may read the connection meanwhile: replies wake no other thread)."""
        return self._link.wait(future, timeout)

    def send(self, pending: Pending, out: list[Encoded]) -> None:
        """More frames of an open call (dropped once it is settled)."""
        if pending.call_id in self._pending:
            self._link.send(out)

    def forget_opened(self) -> None:
        """A call starts on this thread: ``cancel_opened`` concerns only what it opens."""
        self._opened.pending = None

    def cancel_opened(self) -> None:
        """Cancel the call this thread opened since ``forget_opened``, unless it ended.

        For a Ctrl-C that strikes while a call is being started, before anyone waits for it: it
        would stay open (and the process's exit would wait for it) with nobody to collect it.
        """
        pending: Pending | None = getattr(self._opened, "pending", None)
        self._opened.pending = None
        if pending is not None and not pending.done:
            self.cancel(pending)

    def cancel(self, pending: Pending, exc: BaseException | None = None) -> None:
        """Give up on a call: tell the callees and fail it locally."""
        with self._lock:
            was_open = self._pending.pop(pending.call_id, None) is not None
        if was_open:
            self._link.send(frames(pb.Message.CANCEL, pending.call_id, ""))
        if pending.timer is not None:
            pending.timer.cancel()
        pending.fail(exc or _Cancelled(f"call to {pending.name!r} was cancelled"))

    def push_stream(self, pending: Pending, items: Iterable[object], timeout: float | None) -> Settled:
        """Send every item with credit from the receivers, then END; wait for every receiver's reply.

        Items travel in groups (one pickle, one frame per ``ITEMS_PER_FRAME`` items). A producer
        that makes the sender wait (``SLOW_PRODUCER``) flushes each item at once instead, so a
        slow generator's items are not held back.
        """
        sent, group = 0, list[object]()
        source = iter(items)
        try:
            while True:
                started = time.perf_counter()
                try:
                    item = next(source)
                except StopIteration:
                    break
                slow = time.perf_counter() - started > SLOW_PRODUCER
                group.append(item)
                if (
                    len(group) < ITEMS_PER_FRAME
                    and not slow
                    and sent + len(group) - pending.slowest_ack(sent) < STREAM_WINDOW
                ):
                    continue
                sent += self._send_items(pending, group)
                group = []
                with pending.cond:
                    while (
                        sent - pending.slowest_ack(sent) >= STREAM_WINDOW
                        and not pending.done
                        and not self._stream_failed(pending)
                    ):
                        pending.cond.wait()
                if pending.done or self._stream_failed(pending):
                    break
            if group and not (pending.done or self._stream_failed(pending)):
                sent += self._send_items(pending, group)
        except BaseException as exc:
            self.cancel(pending, exc if isinstance(exc, DaffiError) else None)
            raise
        self.send(pending, frames(pb.Message.END, pending.call_id, ""))
        try:
            replies = wait(pending.future, timeout, f"STREAM to {pending.name!r}", self.wait)
        except TimeoutError:
            if not pending.done:
                self.cancel(pending)
            raise
        return replies

    def _send_items(self, pending: Pending, group: list[object]) -> int:
        data, encoding = _serde.dumps(group)
        self.send(pending, frames(pb.Message.ITEM, pending.call_id, "", data, encoding))
        return len(group)

    @staticmethod
    def _stream_failed(pending: Pending) -> bool:
        return any(r.error is not None for r in pending.replies.values())

    def _expire(self, pending: Pending) -> None:
        self.cancel(
            pending, TimeoutError(f"remote callback {pending.name!r} did not finish within {pending.timeout} s")
        )

    def ack_yields(self, pending: Pending, count: int) -> None:
        self.send(pending, frames(pb.Message.ACK_YIELDS, pending.call_id, "", count=count))

    # -- the thread delivering frames
    def on_message(self, msg: pb.Message) -> None:
        """An upstream frame or ACCEPTED from the controller."""
        pending = self._pending.get(msg.call_id)
        if pending is None:
            return
        kind = msg.kind
        if kind == pb.Message.ACK_ITEMS:
            with pending.cond:
                pending.acks[msg.peer] = msg.count
                pending.cond.notify_all()
            return
        if kind == pb.Message.ACCEPTED:
            if pending.accepted(set(msg.targets)):
                self._settled(pending)
            return
        if msg.more or msg.continuation:
            with self._lock:
                whole = self._assembler.feed(msg)
            if whole is None:
                return
            first, payload = whole
        else:
            first, payload = msg, msg.payload
        reply = Reply(first.peer, payload, first.encoding, first.error if first.HasField("error") else None)
        if kind == pb.Message.YIELD:
            if pending.items is not None:
                pending.items.put(reply)
        elif kind == pb.Message.REPLY and pending.reply(reply):
            self._settled(pending)

    def _settled(self, pending: Pending) -> None:
        with self._lock:
            self._pending.pop(pending.call_id, None)
        if pending.timer is not None:
            pending.timer.cancel()

    def _drop(self, pending: Pending, exc: BaseException) -> None:
        with self._lock:
            self._pending.pop(pending.call_id, None)
        if pending.timer is not None:
            pending.timer.cancel()
        pending.fail(exc)

    def fail_all(self, exc: BaseException) -> None:
        """Fail every open call (the connection is gone)."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._assembler.drop()
        for p in pending.values():
            if p.timer is not None:
                p.timer.cancel()
            p.fail(exc)

    @property
    def open_calls(self) -> int:
        return len(self._pending)


class RemoteIterator(Generic[Y]):
    """Items of a remote generator callback; ``for`` or ``async for``. Leaving early stops the generator."""

    def __init__(self, caller: Caller, pending: Pending) -> None:
        self._caller = caller
        self._pending = pending
        self._consumed = 0
        self._finished = False

    def __iter__(self) -> RemoteIterator[Y]:
        return self

    def __next__(self) -> Y:
        assert self._pending.items is not None
        try:
            return self._next(self._pending.items.take())
        except KeyboardInterrupt as interrupt:  # Ctrl-C: stop the generator; the traceback ends at the caller
            self.close()
            interrupted(interrupt)
            raise

    def __aiter__(self) -> RemoteIterator[Y]:
        return self

    async def __anext__(self) -> Y:
        assert self._pending.items is not None
        try:
            return self._next(await self._pending.items.take_async())
        except StopIteration:
            raise StopAsyncIteration from None

    def _next(self, item: Reply | None) -> Y:
        if item is None:
            self._finished = True
            end = self._pending.items.end if self._pending.items is not None else None
            if isinstance(end, BaseException):
                raise end
            if isinstance(end, Reply) and end.error is not None:
                decode(end)
            raise StopIteration
        self._consumed += 1
        if self._consumed % YIELD_ACK_EVERY == 0:
            self._caller.ack_yields(self._pending, self._consumed)
        value: Y = decode(item)
        return value

    def close(self) -> None:
        """Stop the remote generator (GeneratorExit is raised in it)."""
        if not self._finished:
            self._finished = True
            if not self._pending.done:
                self._caller.cancel(self._pending)

    async def aclose(self) -> None:
        """``close()`` for ``async for`` code (what ``contextlib.aclosing`` calls)."""
        self.close()

    def __enter__(self) -> RemoteIterator[Y]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # the loop may be closed at interpreter exit
            pass
