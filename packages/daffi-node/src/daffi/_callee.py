"""The callee's side of calls: runs callbacks and sends their results back.

Frames arrive on whichever thread the link delivers them. A plain call (``RUN``, no ``eta``, not
a generator) is served from there: a sync callback runs right in that thread when the link
allows it (``Link.inline``: a socket link's reader, with nothing queued behind the call) and the
callback has been quick so far, else in a daemon worker thread; an async one on the async runner.
Its reply is sent by the thread that finishes it. Everything else (streams, generators,
schedules, system operations, eta) is served on the node's loop. Arguments are deserialized and
results serialized in the thread that runs the callback; the node's loop never runs user code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, cast

from daffi_core.errors import GlobalContextError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.stats import OK, outcome_of

from daffi import _serde
from daffi._args import Args
from daffi._contract import ContractCheck
from daffi._credit import Credit
from daffi._link import Link
from daffi._observe import Job, Observer, Served
from daffi._registry import REGISTRY, LocalCallback, UserFunction
from daffi._runtime import Timer
from daffi._scheduler import Scheduler
from daffi._wire import Assembler, frames
from daffi._workers import AsyncRunner, DaemonPool, Escaped

__all__ = ["Callee", "INLINE_LIMIT", "Payload", "Running", "STREAM_ACK_EVERY", "YIELD_WINDOW"]

log = logging.getLogger("daffi.node")
#: Seconds between answering a stop request (``kill_all``) and signalling this process.
_STOP_DELAY = 0.2
#: Generator items a callee may send beyond what the consumer acknowledged.
YIELD_WINDOW = 256
#: A stream receiver acknowledges every this many items.
STREAM_ACK_EVERY = 64
#: A sync callback run inline that takes longer than this runs in worker threads from then on.
INLINE_LIMIT = 0.005
_END = object()
Payload = tuple[bytes, int]


class _NotSerializable(Exception):
    pass


class _Expired(Exception):
    pass


class Running:
    """A call being served: what can cancel it and feed it. ``cancel`` works from any thread."""

    __slots__ = ("cancelled", "credit", "future", "items", "plain", "served", "task", "timer")

    def __init__(self, plain: bool = False, served: Served | None = None) -> None:
        self.plain = plain  # served off the loop (see the module docstring)
        self.served = served  # what an observer (metrics, tracing) follows of it
        self.task: asyncio.Task[None] | None = None
        self.timer: Timer | None = None
        self.future: Future[Payload] | None = None  # a plain call's work (cancelling it stops an async callback)
        self.credit: Credit | None = None
        self.items: queue.SimpleQueue[Payload | object] | None = None  # ITEM payloads, then _END
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        # Let go of the timer and the future: both refer back to this record (the timer's arguments,
        # the future's done-callback), and a cycle per call would wait for the cyclic GC.
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.future is not None:
            self.future.cancel()
            self.future = None
        if self.credit is not None:
            self.credit.close()
        if self.items is not None:
            self.items.put(_END)
        if self.task is not None:
            task = self.task
            task.get_loop().call_soon_threadsafe(task.cancel)


class Callee:
    """Serves the calls other nodes make to this node's callbacks (``observer``: metrics, tracing)."""

    def __init__(
        self, link: Link, pool: DaemonPool, runner: AsyncRunner, owner: object, observer: Observer | None = None
    ) -> None:
        self._link = link
        self._observer = observer
        self._pool = pool
        self._runner = runner
        self._owner = owner  # what a callback's ``g`` parameter receives (the Global)
        self._assembler = Assembler()
        self._running: dict[tuple[str, int], Running] = {}
        self._lock = threading.Lock()
        #: Sync callbacks that took longer than ``INLINE_LIMIT`` inline: they run in worker threads.
        self._slow: set[str] = set()
        self.scheduler = Scheduler()
        self._contracts = ContractCheck(link.process_name)

    # -- the thread delivering frames
    def on_message(self, msg: pb.Message) -> None:
        kind = msg.kind
        if kind == pb.Message.CALL and not msg.more and not msg.continuation:
            head = msg.head
            if head.action == pb.CallHead.RUN and not head.eta:
                cb = REGISTRY.get(head.name)
                if cb is not None and not cb.is_generator:
                    if head.fingerprint and self._refused(msg.peer, msg.call_id, head, cb):
                        return
                    self._serve_plain(msg.peer, msg.call_id, cb, head, msg.payload, msg.encoding)
                    return
        elif kind == pb.Message.CANCEL:
            running = self._running.get((msg.peer, msg.call_id))
            if running is not None and running.plain:
                running.cancel()
                self._settle((msg.peer, msg.call_id), running, asyncio.CancelledError())
                return
        self._link.post(self._on_loop, msg)

    def _refused(self, peer: str, call_id: int, head: pb.CallHead, cb: LocalCallback) -> bool:
        """A call through a stub that no longer fits ``cb`` is answered with its error here."""
        if head.fingerprint == cb.fingerprint:
            return False
        error = self._contracts.refusal(head, cb.signature, cb.fingerprint)
        if error is None:
            return False
        self._reply_error(peer, call_id, error)
        return True

    def _serve_plain(
        self, peer: str, call_id: int, cb: LocalCallback, head: pb.CallHead, payload: bytes, encoding: int
    ) -> None:
        """A plain call: inline, in a worker thread, or on the async runner; it answers itself."""
        key = (peer, call_id)
        served = self._observer.serving(head, peer) if self._observer is not None else None
        running = Running(True, served)
        self._running[key] = running
        if head.timeout:
            expired = _Expired(f"callback {cb.name!r} did not finish within {head.timeout} s on the callee")
            running.timer = self._link.call_later(head.timeout, self._settle, key, running, expired)
        owner, return_result = self._owner, head.return_result
        if not cb.is_async and cb.name not in self._slow and self._link.inline():
            with self._link.serving():  # the reply is sent inside: a blocked send lets another thread read
                began = time.perf_counter()
                try:
                    fn = _scoped(served, cb.resolve())
                    value = _call_with(fn, cb, payload, encoding, owner)
                    outcome: Payload | BaseException = _dumps(value) if return_result else (b"", 0)
                except BaseException as exc:  # SystemExit & co. too: the caller gets a reply, the reader goes on
                    outcome = exc
                if time.perf_counter() - began > INLINE_LIMIT:
                    self._slow.add(cb.name)
                self._settle(key, running, outcome)
            return
        future = self._run(cb, lambda fn: _call_with(fn, cb, payload, encoding, owner), return_result, served)
        running.future = future
        future.add_done_callback(lambda done: self._settle(key, running, done))

    def _settle(
        self, key: tuple[str, int], running: Running, outcome: Future[Payload] | Payload | BaseException
    ) -> None:
        """Answer a plain call once (any thread): its result, its error, a cancellation or a timeout."""
        with self._lock:
            if self._running.get(key) is not running:
                return  # answered already (cancelled or timed out), or its connection is gone
            del self._running[key]
        running.cancel()  # its timer, and its work if it timed out (an async callback is cancelled)
        peer, call_id = key
        error: pb.Error | None = None
        if isinstance(outcome, BaseException):
            error = _error_for(outcome)
        elif isinstance(outcome, tuple):
            self._reply(peer, call_id, *outcome)
        elif outcome.cancelled():
            error = _error_for(asyncio.CancelledError())
        elif (failure := outcome.exception()) is not None:
            error = _error_for(failure)
        else:
            self._reply(peer, call_id, *outcome.result())
        if error is not None:
            self._reply_error(peer, call_id, error)
        if running.served is not None:
            running.served.done(outcome_of(error))

    # -- the node loop
    def _on_loop(self, msg: pb.Message) -> None:
        key = (msg.peer, msg.call_id)
        kind = msg.kind
        running = self._running.get(key)
        if kind == pb.Message.CANCEL:
            self._assembler.drop(msg.peer, msg.call_id)  # a payload that will never be finished
            if running is not None:
                running.cancel()
                if running.task is None:  # a plain call has no task to answer for it
                    self._settle(key, running, asyncio.CancelledError())
            return
        if kind == pb.Message.ACK_YIELDS:
            if running is not None and running.credit is not None:
                running.credit.grant(msg.count)
            return
        if kind == pb.Message.END:
            if running is not None and running.items is not None:
                running.items.put(_END)
            return
        whole = self._assembler.feed(msg)
        if whole is None:
            return
        first, payload = whole
        if kind == pb.Message.ITEM:
            if running is not None and running.items is not None:
                running.items.put((payload, first.encoding))
        elif kind == pb.Message.CALL:
            self._start(first, payload)

    def _start(self, first: pb.Message, payload: bytes) -> None:
        head, peer, call_id = first.head, first.peer, first.call_id
        key = (peer, call_id)
        running = Running()
        if head.action == pb.CallHead.SYSTEM:
            coro = self._system(peer, call_id, head.name, payload, first.encoding)
        else:
            cb = REGISTRY.get(head.name)
            if cb is None:
                self._reply_error(
                    peer,
                    call_id,
                    pb.Error(
                        kind=pb.Error.UNKNOWN_CALLBACK,
                        type_name="GlobalContextError",
                        message=f"node {self._link.process_name!r} has no callback {head.name!r}",
                    ),
                )
                return
            if head.fingerprint and self._refused(peer, call_id, head, cb):
                return
            if self._observer is not None and (head.action == pb.CallHead.STREAM or cb.is_generator):
                running.served = self._observer.serving(head, peer)  # plain calls: in _serve_plain
            if head.action == pb.CallHead.STREAM:
                running.items = queue.SimpleQueue()
                coro = self._serve_stream(running, cb, peer, call_id)
            elif head.action == pb.CallHead.SCHEDULE:
                coro = self._schedule(cb, head, peer, call_id, payload, first.encoding)
            elif cb.is_generator:
                running.credit = Credit(YIELD_WINDOW)
                coro = self._serve_generator(running, cb, head, peer, call_id, payload, first.encoding)
            elif head.eta:
                running.plain = True
                self._running[key] = running
                running.timer = self._link.call_later(
                    head.eta, self._after_eta, key, running, cb, head, payload, first.encoding
                )
                return
            else:  # a plain call whose payload came in pieces
                self._serve_plain(peer, call_id, cb, head, payload, first.encoding)
                return
        self._running[key] = running
        running.task = asyncio.get_running_loop().create_task(self._guard(key, running, coro))

    async def _guard(self, key: tuple[str, int], running: Running, coro: Awaitable[object]) -> None:
        """Run one call's coroutine; whatever happens, the caller gets exactly one REPLY."""
        outcome = OK
        try:
            await coro
        except BaseException as exc:  # SystemExit & co. from a sync callback too: reply, keep the loop alive
            error = _error_for(exc)
            outcome = outcome_of(error)
            self._reply_error(*key, error)
        finally:
            self._running.pop(key, None)
            if running.served is not None:
                running.served.done(outcome)

    def _after_eta(
        self,
        key: tuple[str, int],
        running: Running,
        cb: LocalCallback,
        head: pb.CallHead,
        payload: bytes,
        encoding: int,
    ) -> None:
        with self._lock:
            if self._running.get(key) is not running:  # cancelled while waiting for its eta
                return
            del self._running[key]
        self._serve_plain(key[0], key[1], cb, head, payload, encoding)

    async def _schedule(
        self, cb: LocalCallback, head: pb.CallHead, peer: str, call_id: int, payload: bytes, encoding: int
    ) -> None:
        async def run_once() -> None:
            await asyncio.wrap_future(
                self._run(cb, lambda fn: _call_with(fn, cb, payload, encoding, self._owner), False)
            )

        task_uuid = self.scheduler.add(
            peer, cb.name, run_once, head.schedule.interval or None, list(head.schedule.at_time)
        )
        self._reply(peer, call_id, *_serde.dumps(task_uuid))

    async def _serve_generator(
        self,
        running: Running,
        cb: LocalCallback,
        head: pb.CallHead,
        peer: str,
        call_id: int,
        payload: bytes,
        encoding: int,
    ) -> None:
        credit = running.credit
        assert credit is not None
        send = self._link.send

        def emit(item: object) -> None:
            data, enc = _dumps(item)
            send(frames(pb.Message.YIELD, call_id, peer, data, enc))

        if cb.is_async:

            async def produce() -> Payload:
                args, kwargs = _arguments(cb, payload, encoding, self._owner)
                agen = cb.resolve()(*args, **kwargs)
                try:
                    async for item in agen:
                        if not await credit.take_async():
                            break
                        emit(item)
                finally:
                    await agen.aclose()
                return b"", 0

            future: Future[Payload] = self._runner.submit(_scoped(running.served, produce))
        else:

            def produce_sync() -> Payload:
                args, kwargs = _arguments(cb, payload, encoding, self._owner)
                gen = cb.resolve()(*args, **kwargs)
                try:
                    for item in gen:
                        if not credit.take():
                            break
                        emit(item)
                finally:
                    gen.close()  # raises GeneratorExit inside it when the consumer left early
                return b"", 0

            future = self._pool.submit(_scoped(running.served, produce_sync))
        await self._await(future, head.timeout, cb.name)
        self._reply(peer, call_id)

    async def _serve_stream(self, running: Running, cb: LocalCallback, peer: str, call_id: int) -> None:
        items = running.items
        assert items is not None
        send = self._link.send
        g = self._owner
        runner = self._runner

        def consume() -> int:
            fn = cb.resolve()
            processed = 0
            while True:
                frame = items.get()
                if frame is _END or running.cancelled:
                    return processed
                for item in _serde.loads(*cast(Payload, frame)):  # an ITEM frame carries a list of stream items
                    if running.cancelled:
                        return processed
                    args, kwargs = _unpack(cb, item)
                    if cb.takes_g:
                        kwargs["g"] = g
                    if cb.is_async:
                        runner.submit(functools.partial(fn, *args, **kwargs)).result()
                    else:
                        fn(*args, **kwargs)
                    processed += 1
                    if processed % STREAM_ACK_EVERY == 0:
                        send(frames(pb.Message.ACK_ITEMS, call_id, peer, count=processed))

        await asyncio.wrap_future(self._pool.submit(_scoped(running.served, consume)))
        self._reply(peer, call_id)

    async def _system(self, peer: str, call_id: int, name: str, payload: bytes, encoding: int) -> None:
        arg: Any = _serde.loads(payload, encoding) if encoding else None  # the user's: a function and arguments
        value: object
        if name == "transfer_and_call":
            func, args, kwargs = arg
            if asyncio.iscoroutinefunction(func):
                future: Future[object] = self._runner.submit(lambda: func(*args, **kwargs))
            else:
                future = self._pool.submit(lambda: func(*args, **kwargs))
            value = await asyncio.wrap_future(future)
        elif name == "scheduled_tasks":
            value = self.scheduler.list_for(peer)
        elif name == "cancel_scheduled_task":
            value = self.scheduler.cancel(arg)
        elif name == "stop_process":
            log.warning("stopping: node %r asked every connected node to stop (kill_all)", arg)
            self._reply(peer, call_id, *_dumps(True))
            # As on SIGTERM, so the process stops the way its owner set up (join stops cleanly); the
            # delay lets the answer leave first.
            asyncio.get_running_loop().call_later(_STOP_DELAY, os.kill, os.getpid(), signal.SIGTERM)
            return
        else:
            raise GlobalContextError(f"unknown system operation {name!r}")
        self._reply(peer, call_id, *_dumps(value))

    def _run(
        self,
        cb: LocalCallback,
        call: Callable[[UserFunction], Any],  # the callback's result (or, async, its coroutine)
        return_result: bool,
        served: Served | None = None,
    ) -> Future[Payload]:
        """Run ``call(callable)`` where ``cb`` runs: a worker thread, or the async runner (in ``served``'s scope)."""
        if cb.is_async:

            async def job() -> Payload:
                value = await call(cb.resolve())
                return _dumps(value) if return_result else (b"", 0)

            return self._runner.submit(_scoped(served, job))

        def sync_job() -> Payload:
            value = call(cb.resolve())
            return _dumps(value) if return_result else (b"", 0)

        return self._pool.submit(_scoped(served, sync_job))

    @staticmethod
    async def _await(future: Future[Payload], timeout: float, name: str) -> Payload:
        wrapped = asyncio.wrap_future(future)
        if not timeout:
            return await wrapped
        try:
            return await asyncio.wait_for(wrapped, timeout)
        except asyncio.TimeoutError:
            raise _Expired(f"callback {name!r} did not finish within {timeout} s on the callee") from None

    def _reply(self, peer: str, call_id: int, payload: bytes = b"", encoding: int = 0) -> None:
        self._link.send(frames(pb.Message.REPLY, call_id, peer, payload, encoding))

    def _reply_error(self, peer: str, call_id: int, error: pb.Error) -> None:
        self._link.send(frames(pb.Message.REPLY, call_id, peer, error=error))

    def drop_all(self) -> None:
        """The connection is gone: stop serving its calls (scheduled tasks go on). From any thread."""
        with self._lock:
            running, self._running = self._running, {}
        self._link.post(self._assembler.drop)
        for r in running.values():
            r.cancel()

    async def close(self) -> None:
        self.drop_all()
        await self.scheduler.close()


def _scoped(served: Served | None, job: Job) -> Job:
    """``job`` in the scope of the call ``served`` follows (as it is when no observer follows it)."""
    return job if served is None else served.scoped(job)


def _arguments(
    cb: LocalCallback, payload: bytes, encoding: int, g: object
) -> tuple[tuple[object, ...], dict[str, object]]:
    args, kwargs = _serde.loads(payload, encoding) if encoding else ((), {})
    if cb.takes_g:
        kwargs["g"] = g
    return args, kwargs


def _call_with(fn: UserFunction, cb: LocalCallback, payload: bytes, encoding: int, g: object) -> Any:
    args, kwargs = _arguments(cb, payload, encoding, g)
    return fn(*args, **kwargs)


def _unpack(cb: LocalCallback, item: object) -> tuple[tuple[object, ...], dict[str, object]]:
    """A stream item as arguments: ``Args`` always, a tuple when the callback takes several."""
    if isinstance(item, Args):
        return item.args, dict(item.kwargs)
    if isinstance(item, tuple) and (cb.positional > 1 or cb.positional < 0):
        return item, {}
    return (item,), {}


def _dumps(value: object) -> Payload:
    try:
        return _serde.dumps(value)
    except Exception as exc:
        raise _NotSerializable(f"the result ({type(value).__name__}) cannot be serialized: {exc}") from exc


_INTERNAL_DIRS = (
    *tuple(os.path.dirname(m.__file__) + os.sep for m in (asyncio, concurrent.futures) if m.__file__),
    os.path.dirname(__file__) + os.sep,
)


def _error_for(exc: BaseException) -> pb.Error:
    """The wire error a call's failure is answered with."""
    if isinstance(exc, asyncio.CancelledError):
        return pb.Error(kind=pb.Error.CANCELLED, message="the call was cancelled")
    if isinstance(exc, _Expired):
        return pb.Error(kind=pb.Error.TIMEOUT, type_name="TimeoutError", message=str(exc))
    if isinstance(exc, _NotSerializable):
        return pb.Error(kind=pb.Error.SERIALIZATION, type_name=type(exc.__cause__).__name__, message=str(exc))
    if isinstance(exc, Escaped):
        return _error_of(exc.original)
    return _error_of(exc)


def _error_of(exc: BaseException) -> pb.Error:
    """The wire form of a callback's exception; the traceback starts at the user's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not cost the caller its reply
        message = f"<{type(exc).__name__}: str() failed>"
    return pb.Error(kind=pb.Error.CALLBACK_RAISED, type_name=type(exc).__name__, message=message, traceback=text)
