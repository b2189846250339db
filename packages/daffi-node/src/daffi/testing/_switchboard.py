"""The controller and the callees of ``fake_nodes()``, played in the threads that call.

The real ``Caller`` sends its frames over ``FakeLink``; the switchboard reads them back as
``pb.Message``, routes them as the controller would (round-robin, fan-out, pinned targets, its
errors) and answers them as a callee would (``REPLY``, ``YIELD``, ``ACK_ITEMS``, ``ACCEPTED``),
feeding every answer to ``Caller.on_message`` before ``send`` returns. Sync implementations run
inside ``send``; nothing here starts a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from daffi_core import framing
from daffi_core.errors import DaffiError, GlobalContextError, RemoteStoppedUnexpectedly
from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb

from daffi import _serde
from daffi._args import Args
from daffi._bridge import async_library
from daffi._callee import _dumps, _error_for, _NotSerializable
from daffi._caller import Caller
from daffi._catalog import Catalog
from daffi._link import Link
from daffi._wire import Assembler
from daffi._workers import AsyncRunner
from daffi.testing._clock import FakeClock
from daffi.testing._link import FakeLink
from daffi.testing._work import (
    Arguments,
    AsyncWork,
    DeferredWork,
    GeneratorWork,
    Impl,
    Scheduled,
    Served,
    StreamWork,
    Work,
)

__all__ = ["YIELD_WINDOW", "FakeLink", "Impl", "Served", "Switchboard"]

log = logging.getLogger("daffi.testing")
T = TypeVar("T")
#: Generator items a fake callee sends beyond the consumer's last ACK_YIELDS count.
YIELD_WINDOW = 64


class Switchboard:
    """The fake calling node (``daffi._node.CallingNode``), its fake controller and fake callees."""

    def __init__(self, process_name: str, clock: FakeClock) -> None:
        self.process_name = process_name
        self.clock = clock
        self.catalog = Catalog()
        self.open = False
        self.nodes: dict[str, Served] = {}
        self._lock = threading.Lock()
        self._turn: dict[str, int] = {}
        self._assembler = Assembler()
        #: call id -> {fake node name: its work still owing a REPLY}
        self._work: dict[int, dict[str, Work]] = {}
        self._scheduled: dict[str, Scheduled] = {}
        self._background: set[asyncio.Task[object]] = set()
        self._runner: AsyncRunner | None = None
        self.link: Link = FakeLink(self)
        self.caller = Caller(self.link)

    # -- CallingNode
    @property
    def connected(self) -> bool:
        return self.open

    @property
    def runner(self) -> AsyncRunner:
        """Made when first needed (an async ``args_from_body`` fetcher body): it runs in its own thread."""
        with self._lock:
            if self._runner is None:
                self._runner = AsyncRunner("trio" if async_library() == "trio" else "asyncio")
            return self._runner

    # -- the fake nodes (user threads)
    def add(self, name: str) -> Served:
        with self._lock:
            if name in self.nodes or name == self.process_name:
                raise ValueError(f"a node named {name!r} exists already")
            node = self.nodes[name] = Served(name)
        self.catalog.join(node.info())
        return node

    def serve(self, node: Served, sig: pb.CallbackSignature, impl: Impl) -> None:
        with self._lock:
            node.impls[sig.name] = (sig, impl)
            info = node.info()
        self.catalog.join(info)

    def set_down(self, node: Served, down: bool) -> None:
        """Down: every call it owes fails as when its process dies; new ones fail too."""
        with self._lock:
            node.down = down
            owed = [w for works in self._work.values() for w in works.values() if w.node is node] if down else []
            for work in owed:
                self._forget_locked(work)
        for work in owed:
            work.stop()
            self._stopped(work.call_id, node.name)

    def close(self) -> None:
        """Stop everything: open calls fail, PERIOD tasks end, the async runner (if made) stops."""
        with self._lock:
            self.open = False
            works = [w for works in self._work.values() for w in works.values()]
            self._work.clear()
            tasks = list(self._scheduled.values())
            runner, self._runner = self._runner, None
        for work in works:
            work.stop()
        for task in tasks:
            task.end()
        for background in list(self._background):
            with contextlib.suppress(RuntimeError):
                background.get_loop().call_soon_threadsafe(background.cancel)
        self.caller.fail_all(RemoteStoppedUnexpectedly("the fake nodes are closed (fake_nodes() exited)"))
        if runner is not None:
            runner.stop()

    def runs_on_this_loop(self) -> bool:
        with self._lock:
            works = [w for ws in self._work.values() for w in ws.values() if isinstance(w, AsyncWork)]
        return any(w.on_this_loop() for w in works)

    # -- frames from the caller
    def receive(self, frames: Sequence[Encoded]) -> None:
        for frame in pb.Batch.FromString(framing.batch(frames)).frames:
            if frame.WhichOneof("body") != "message":
                continue  # the caller announces no callbacks: nothing else reaches a controller
            with self._lock:
                whole = self._assembler.feed(frame.message)
            if whole is None:
                continue
            msg, payload = whole
            kind = msg.kind
            if kind == pb.Message.CALL:
                self._call(msg, payload)
            elif kind == pb.Message.ITEM:
                self._item(msg.call_id, payload, msg.encoding)
            elif kind == pb.Message.END:
                self._end(msg.call_id)
            elif kind == pb.Message.CANCEL:
                self._cancel(msg.call_id)
            elif kind == pb.Message.ACK_YIELDS:
                self._ack_yields(msg.call_id, msg.count)

    def _call(self, msg: pb.Message, payload: bytes) -> None:
        head, call_id, encoding = msg.head, msg.call_id, msg.encoding
        if head.action == pb.CallHead.SYSTEM:
            self._system(call_id, head, payload, encoding)
            return
        targets = self._targets(call_id, head)
        if targets is None:
            return
        if head.fanout == pb.CallHead.ALL:
            self._deliver(pb.Message(kind=pb.Message.ACCEPTED, call_id=call_id, targets=[t.name for t in targets]))
        for node in targets:
            sig, impl = node.impls[head.name]
            if node.down:
                self._stopped(call_id, node.name)
            elif head.action == pb.CallHead.STREAM:
                self._register(StreamWork(call_id, node, sig, impl))
            elif head.action == pb.CallHead.SCHEDULE:
                self._schedule(call_id, node, sig, impl, head.schedule, payload, encoding)
            elif sig.is_generator:
                self._generate(call_id, node, sig, impl, payload, encoding)
            elif head.eta:
                self._defer(call_id, node, sig, impl, head, payload, encoding)
            else:
                self._run(call_id, node, sig, impl, head.return_result, payload, encoding)

    def _targets(self, call_id: int, head: pb.CallHead) -> list[Served] | None:
        """Where the controller would route the call; None when it answered with an error."""
        with self._lock:
            if head.target:
                node = self.nodes.get(head.target)
                if node is None or head.name not in node.impls:
                    fail = (
                        (pb.Error.NO_SUCH_NODE, f"cannot call node {head.target!r}: it is not connected")
                        if node is None
                        else (pb.Error.UNKNOWN_CALLBACK, f"node {head.target!r} has no callback {head.name!r}")
                    )
                else:
                    return [node]
            else:
                offering = [n for n in self.nodes.values() if head.name in n.impls]
                if offering and head.fanout == pb.CallHead.ALL:
                    return offering
                if offering:
                    turn = self._turn.get(head.name, 0) % len(offering)
                    self._turn[head.name] = turn + 1
                    return [offering[turn]]
                fail = (pb.Error.UNKNOWN_CALLBACK, f"no node offers callback {head.name!r}")
        kind, message = fail
        if kind == pb.Error.UNKNOWN_CALLBACK:
            message += f"; callbacks of other nodes:\n{self.catalog.describe()}"
        self._deliver(
            pb.Message(
                kind=pb.Message.REPLY,
                call_id=call_id,
                error=pb.Error(kind=kind, type_name="GlobalContextError", message=message),
            )
        )
        return None

    # -- plain calls (FG, BG, BROADCAST)
    def _run(
        self,
        call_id: int,
        node: Served,
        sig: pb.CallbackSignature,
        impl: Impl,
        return_result: bool,
        payload: bytes,
        encoding: int,
    ) -> None:
        try:
            args, kwargs = _arguments(payload, encoding)
        except Exception as exc:
            self._reply_error(call_id, node.name, exc)
            return
        node.record(sig.name, args, kwargs)
        self._answer(call_id, node, lambda: impl(*args, **kwargs), return_result)

    def _answer(self, call_id: int, node: Served, run: Callable[[], object], return_result: bool) -> None:
        """Run ``run()`` and REPLY with its value or error; an awaitable it returns is awaited first."""
        try:
            value = run()
        except (Exception, SystemExit) as exc:  # SystemExit & co.: the caller gets a reply, as from a real callee
            self._reply_error(call_id, node.name, exc)
            return
        if inspect.isawaitable(value):
            self._await(call_id, node, value, return_result)
            return
        self._reply_value(call_id, node.name, value, return_result)

    def _await(self, call_id: int, node: Served, awaitable: Awaitable[object], return_result: bool) -> None:
        library = async_library()
        if library is None:  # no loop runs in this thread: run it to the end here and now
            try:
                value = asyncio.run(_coroutine(awaitable))
            except (Exception, SystemExit) as exc:
                self._reply_error(call_id, node.name, exc)
                return
            self._reply_value(call_id, node.name, value, return_result)
            return
        work = AsyncWork(call_id, node, return_result)
        self._register(work)
        if library == "asyncio":
            task = asyncio.get_running_loop().create_task(_coroutine(awaitable))
            work.task = task
            task.add_done_callback(lambda done: self._task_done(work, done))
        else:
            import trio

            work.trio_token = trio.lowlevel.current_trio_token()
            work.trio_scope = trio.CancelScope()
            trio.lowlevel.spawn_system_task(self._trio_task, work, awaitable)

    async def _trio_task(self, work: AsyncWork, awaitable: Awaitable[object]) -> None:
        outcome: object
        assert work.trio_scope is not None
        with work.trio_scope:
            try:
                outcome = await awaitable
            except (Exception, SystemExit) as exc:
                outcome = exc
            self._settled(work, outcome)
            return
        self._settled(work, asyncio.CancelledError())  # its scope was cancelled: the call was given up

    def _task_done(self, work: AsyncWork, task: asyncio.Task[object]) -> None:
        if task.cancelled():
            self._settled(work, asyncio.CancelledError())
        else:
            failure = task.exception()
            self._settled(work, failure if failure is not None else task.result())

    def _settled(self, work: AsyncWork, outcome: object) -> None:
        if not self._forget(work):
            return  # cancelled, timed out or down: answered already
        if isinstance(outcome, BaseException):
            self._reply_error(work.call_id, work.node.name, outcome)
        else:
            self._reply_value(work.call_id, work.node.name, outcome, work.return_result)

    def _defer(
        self,
        call_id: int,
        node: Served,
        sig: pb.CallbackSignature,
        impl: Impl,
        head: pb.CallHead,
        payload: bytes,
        encoding: int,
    ) -> None:
        work = DeferredWork(call_id, node)
        self._register(work)
        return_result = head.return_result

        def run() -> None:
            if self._forget(work):
                if node.down:
                    self._stopped(call_id, node.name)
                else:
                    self._run(call_id, node, sig, impl, return_result, payload, encoding)

        work.due = self.clock.call_later(head.eta, run)

    # -- generators
    def _generate(
        self, call_id: int, node: Served, sig: pb.CallbackSignature, impl: Impl, payload: bytes, encoding: int
    ) -> None:
        try:
            args, kwargs = _arguments(payload, encoding)
            node.record(sig.name, args, kwargs)
            items = iter(impl(*args, **kwargs))
        except (Exception, SystemExit) as exc:
            self._reply_error(call_id, node.name, exc)
            return
        work = GeneratorWork(call_id, node, items)
        self._register(work)
        self._pump(work)

    def _pump(self, work: GeneratorWork) -> None:
        """Send items while the window allows; the REPLY once the items end."""
        while not work.closed and work.sent - work.acked < YIELD_WINDOW:
            if not work.pumping.acquire(blocking=False):
                return  # another thread (or this one, from inside the generator) pumps it
            try:
                self._pump_locked(work)
            finally:
                if work.closed:
                    work.close_items()
                work.pumping.release()

    def _pump_locked(self, work: GeneratorWork) -> None:
        end: BaseException | None = None
        while not work.closed and work.sent - work.acked < YIELD_WINDOW:
            try:
                item = next(work.items)
                data, encoding = _dumps(item)
            except StopIteration:
                break
            except (Exception, SystemExit) as exc:
                end = exc
                break
            work.sent += 1
            self._deliver(
                pb.Message(
                    kind=pb.Message.YIELD,
                    call_id=work.call_id,
                    peer=work.node.name,
                    payload=data,
                    encoding=pb.Encoding.ValueType(encoding),
                )
            )
        else:
            return  # out of credit (or stopped): the next ACK_YIELDS goes on
        work.closed = True
        if self._forget(work):
            if end is None:
                self._reply_value(work.call_id, work.node.name, None, False)
            else:
                self._reply_error(work.call_id, work.node.name, end)

    def _ack_yields(self, call_id: int, count: int) -> None:
        with self._lock:
            works = list(self._work.get(call_id, {}).values())
        for work in works:
            if isinstance(work, GeneratorWork):
                work.acked = max(work.acked, count)
                self._pump(work)

    # -- streams
    def _item(self, call_id: int, payload: bytes, encoding: int) -> None:
        with self._lock:
            works = [w for w in self._work.get(call_id, {}).values() if isinstance(w, StreamWork)]
        for work in works:
            try:
                positional = _positional(work.sig)
                for item in _serde.loads(payload, encoding):  # an ITEM frame carries a list of items
                    if work.stopped:
                        break
                    args, kwargs = _unpack(positional, item)
                    work.node.record(work.sig.name, args, kwargs)
                    value = work.impl(*args, **kwargs)
                    if inspect.isawaitable(value):
                        _run_to_end(value)
                    work.processed += 1
            except (Exception, SystemExit) as exc:
                if self._forget(work):
                    work.stop()
                    self._reply_error(call_id, work.node.name, exc)
                continue
            if not work.stopped:
                self._deliver(
                    pb.Message(kind=pb.Message.ACK_ITEMS, call_id=call_id, peer=work.node.name, count=work.processed)
                )

    def _end(self, call_id: int) -> None:
        with self._lock:
            works = [w for w in self._work.get(call_id, {}).values() if isinstance(w, StreamWork)]
            for work in works:
                self._forget_locked(work)
        for work in works:
            self._reply_value(call_id, work.node.name, None, False)

    # -- PERIOD
    def _schedule(
        self,
        call_id: int,
        node: Served,
        sig: pb.CallbackSignature,
        impl: Impl,
        schedule: pb.Schedule,
        payload: bytes,
        encoding: int,
    ) -> None:
        task = Scheduled(
            node, sig, impl, payload, encoding, self.process_name, schedule.interval or None, list(schedule.at_time)
        )
        with self._lock:
            self._scheduled[task.uuid] = task
        self._arm(task)
        self._reply_value(call_id, node.name, task.uuid, True)

    def _arm(self, task: Scheduled) -> None:
        if task.ended:
            return
        if task.interval:
            task.next_at = (task.next_at if task.next_at is not None else self.clock.now()) + task.interval
            when = task.next_at  # fixed rate: a slow run does not shift the schedule
        elif task.moments:
            when = task.moments.pop(0)
        else:
            task.ended = True
            return
        task.due = self.clock.call_at(when, lambda: self._fire(task))

    def _fire(self, task: Scheduled) -> None:
        if task.ended:
            return
        task.runs += 1
        self._arm(task)  # before the run: the run may cancel its own task, or advance the clock
        if task.node.down:
            return  # a dead node runs nothing; from up() on, its runs go on
        try:
            args, kwargs = _arguments(task.payload, task.encoding)
            task.node.record(task.sig.name, args, kwargs)
            value = task.impl(*args, **kwargs)
            if inspect.isawaitable(value):
                self._background_run(task, value)
        except Exception:
            log.exception("scheduled task %s (%s) on fake node %r failed", task.uuid, task.sig.name, task.node.name)

    def _background_run(self, task: Scheduled, awaitable: Awaitable[object]) -> None:
        """A PERIOD run's awaitable: on this thread's loop (asyncio, trio), else to the end at once."""
        library = async_library()
        if library is None:
            asyncio.run(_coroutine(awaitable))
        elif library == "asyncio":
            running = asyncio.get_running_loop().create_task(_coroutine(awaitable))
            self._background.add(running)

            def done(finished: asyncio.Task[object]) -> None:
                self._background.discard(finished)
                if not finished.cancelled() and finished.exception() is not None:
                    log.error("scheduled task %s (%s) failed", task.uuid, task.sig.name, exc_info=finished.exception())

            running.add_done_callback(done)
        else:
            import trio

            async def run() -> None:
                try:
                    await awaitable
                except Exception:
                    log.exception("scheduled task %s (%s) failed", task.uuid, task.sig.name)

            trio.lowlevel.spawn_system_task(run)

    # -- system operations (what ScheduledTask.cancel and the like send)
    def _system(self, call_id: int, head: pb.CallHead, payload: bytes, encoding: int) -> None:
        node = self.nodes.get(head.target)
        if node is None:
            self._deliver(
                pb.Message(
                    kind=pb.Message.REPLY,
                    call_id=call_id,
                    error=pb.Error(
                        kind=pb.Error.NO_SUCH_NODE,
                        type_name="GlobalContextError",
                        message=f"cannot call node {head.target!r}: it is not connected",
                    ),
                )
            )
            return
        if node.down:
            self._stopped(call_id, node.name)
            return
        name = head.name

        def run() -> object:
            arg: Any = _serde.loads(payload, encoding) if encoding else None
            if name == "cancel_scheduled_task":
                return self._cancel_scheduled(node, arg)
            if name == "scheduled_tasks":
                with self._lock:
                    tasks = list(self._scheduled.values())
                return [t.as_dict() for t in tasks if t.node is node and not t.ended]
            if name == "transfer_and_call":
                func, args, kwargs = arg
                return func(*args, **kwargs)
            raise GlobalContextError(f"unknown system operation {name!r}")

        self._answer(call_id, node, run, True)

    def _cancel_scheduled(self, node: Served, task_uuid: str) -> bool:
        with self._lock:
            task = self._scheduled.get(task_uuid)
        if task is None or task.node is not node:
            raise KeyError(f"no scheduled task {task_uuid!r} on this node")
        return task.end()

    # -- cancelling
    def _cancel(self, call_id: int) -> None:
        with self._lock:
            works = list(self._work.pop(call_id, {}).values())
        for work in works:
            work.stop()

    # -- bookkeeping
    def _register(self, work: Work) -> None:
        with self._lock:
            self._work.setdefault(work.call_id, {})[work.node.name] = work

    def _forget(self, work: Work) -> bool:
        """Take ``work`` off the open calls; False when it was not there (answered or stopped already)."""
        with self._lock:
            return self._forget_locked(work)

    def _forget_locked(self, work: Work) -> bool:
        works = self._work.get(work.call_id)
        if works is None or works.get(work.node.name) is not work:
            return False
        del works[work.node.name]
        if not works:
            del self._work[work.call_id]
        return True

    # -- answers to the caller
    def _deliver(self, msg: pb.Message) -> None:
        self.caller.on_message(msg)

    def _reply_value(self, call_id: int, peer: str, value: object, return_result: bool) -> None:
        if not return_result:
            self._deliver(pb.Message(kind=pb.Message.REPLY, call_id=call_id, peer=peer))
            return
        try:
            data, encoding = _dumps(value)
        except _NotSerializable as exc:
            self._reply_error(call_id, peer, exc)
            return
        self._deliver(
            pb.Message(
                kind=pb.Message.REPLY,
                call_id=call_id,
                peer=peer,
                payload=data,
                encoding=pb.Encoding.ValueType(encoding),
            )
        )

    def _reply_error(self, call_id: int, peer: str, exc: BaseException) -> None:
        self._deliver(pb.Message(kind=pb.Message.REPLY, call_id=call_id, peer=peer, error=_error_for(exc)))

    def _stopped(self, call_id: int, peer: str) -> None:
        """What the controller answers for a node that died owing a reply."""
        error = pb.Error(kind=pb.Error.REMOTE_STOPPED, message=f"Remote process {peer!r} stopped unexpectedly.")
        self._deliver(pb.Message(kind=pb.Message.REPLY, call_id=call_id, peer=peer, error=error))


def _arguments(payload: bytes, encoding: int) -> Arguments:
    if not encoding:
        return (), {}
    args, kwargs = _serde.loads(payload, encoding)
    return tuple(args), dict(kwargs)


def _positional(sig: pb.CallbackSignature) -> int:
    """Positional parameters of ``sig`` (-1: it takes *args): how a stream item unpacks."""
    kinds = [p.kind for p in sig.parameters]
    if pb.Parameter.VAR_POSITIONAL in kinds:
        return -1
    return sum(1 for k in kinds if k in (pb.Parameter.POSITIONAL_ONLY, pb.Parameter.POSITIONAL_OR_KEYWORD))


def _unpack(positional: int, item: object) -> Arguments:
    """A stream item as arguments, as a real callee unpacks it (``Args``; a tuple for several)."""
    if isinstance(item, Args):
        return item.args, dict(item.kwargs)
    if isinstance(item, tuple) and (positional > 1 or positional < 0):
        return item, {}
    return (item,), {}


async def _coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _run_to_end(awaitable: Awaitable[object]) -> object:
    """An awaitable's value when the calling thread runs no loop (a STREAM item's implementation)."""
    if async_library() is not None:
        if isinstance(awaitable, Coroutine):
            awaitable.close()
        raise DaffiError("an async implementation cannot process STREAM items inside a running event loop")
    return asyncio.run(_coroutine(awaitable))
