"""What a fake node holds (``Served``) and the parts of open calls it still owes a reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from daffi_core.proto import daffi_pb2 as pb

from daffi._registry import UserFunction
from daffi._scheduler import Condition, TaskInfo
from daffi.testing._clock import Due

if TYPE_CHECKING:
    import trio

__all__ = [
    "Arguments",
    "AsyncWork",
    "DeferredWork",
    "GeneratorWork",
    "Impl",
    "Scheduled",
    "Served",
    "StreamWork",
    "Work",
]

log = logging.getLogger("daffi.testing")
#: What a callee implementation is: any callable; it may return an awaitable or (generators) an iterable.
Impl = UserFunction
#: The arguments of one run of an implementation, as the test reads them back (the user's own values).
Arguments = tuple[tuple[Any, ...], dict[str, Any]]


class Served:
    """One fake node's state: what it serves, the calls it received, whether it is down."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.impls: dict[str, tuple[pb.CallbackSignature, Impl]] = {}
        self.records: dict[str, list[Arguments]] = {}
        self.down = False
        self._lock = threading.Lock()

    def record(self, callback: str, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        with self._lock:
            self.records.setdefault(callback, []).append((args, kwargs))

    def calls(self, callback: str) -> list[Arguments]:
        with self._lock:
            return list(self.records.get(callback, ()))

    def info(self) -> pb.NodeInfo:
        return pb.NodeInfo(process_name=self.name, callbacks=[sig for sig, _ in self.impls.values()])


class Work:
    """One target's part of an open call that still owes the caller its REPLY."""

    def __init__(self, call_id: int, node: Served) -> None:
        self.call_id = call_id
        self.node = node

    def stop(self) -> None:
        """Stop working on it (the caller gave up, the node went down, the fakes closed)."""


class AsyncWork(Work):
    """An awaitable implementation running on the calling thread's asyncio or trio loop."""

    def __init__(self, call_id: int, node: Served, return_result: bool) -> None:
        super().__init__(call_id, node)
        self.return_result = return_result
        self.task: asyncio.Task[object] | None = None
        self.trio_token: trio.lowlevel.TrioToken | None = None
        self.trio_scope: trio.CancelScope | None = None

    def on_this_loop(self) -> bool:
        """It runs on the loop the calling thread runs (blocking this thread would deadlock it)."""
        if self.task is not None:
            try:
                return self.task.get_loop() is asyncio.get_running_loop()
            except RuntimeError:
                return False
        if self.trio_token is not None:
            import trio

            try:
                return bool(trio.lowlevel.current_trio_token() == self.trio_token)
            except RuntimeError:
                return False
        return False

    def stop(self) -> None:
        if self.task is not None:
            with contextlib.suppress(RuntimeError):  # its loop is closed: it is not running any more
                self.task.get_loop().call_soon_threadsafe(self.task.cancel)
        elif self.trio_token is not None and self.trio_scope is not None:
            with contextlib.suppress(Exception):
                self.trio_token.run_sync_soon(self.trio_scope.cancel)


class DeferredWork(Work):
    """A call with ``eta``, waiting for the fake clock."""

    due: Due | None = None

    def stop(self) -> None:
        if self.due is not None:
            self.due.cancel()


class GeneratorWork(Work):
    """A generator implementation's items, produced as the consumer's credit allows."""

    def __init__(self, call_id: int, node: Served, items: Iterator[object]) -> None:
        super().__init__(call_id, node)
        self.items = items
        self.sent = 0
        self.acked = 0
        self.closed = False
        self.pumping = threading.Lock()

    def stop(self) -> None:
        self.closed = True
        if self.pumping.acquire(blocking=False):  # else whoever pumps it closes it when done
            try:
                self.close_items()
            finally:
                self.pumping.release()

    def close_items(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            try:
                close()  # raises GeneratorExit inside a generator: its finally blocks run
            except Exception:
                log.exception("closing the generator of fake node %r failed", self.node.name)


class StreamWork(Work):
    """One receiver of a STREAM."""

    def __init__(self, call_id: int, node: Served, sig: pb.CallbackSignature, impl: Impl) -> None:
        super().__init__(call_id, node)
        self.sig = sig
        self.impl = impl
        self.processed = 0
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


class Scheduled:
    """A PERIOD task on a fake node, driven by the fake clock."""

    def __init__(
        self,
        node: Served,
        sig: pb.CallbackSignature,
        impl: Impl,
        payload: bytes,
        encoding: int,
        caller: str,
        interval: float | None,
        at_time: list[float],
    ) -> None:
        self.uuid = uuid.uuid4().hex
        self.node = node
        self.sig = sig
        self.impl = impl
        self.payload = payload
        self.encoding = encoding
        self.caller = caller
        self.interval = interval
        self.moments = list(at_time)
        self.next_at: float | None = None
        self.due: Due | None = None
        self.runs = 0
        self.ended = False

    def as_dict(self) -> TaskInfo:
        condition: Condition = "period" if self.interval else "at_time"
        return {"condition": condition, "func_name": self.sig.name, "uuid": self.uuid, "runs": self.runs}

    def end(self) -> bool:
        """Stop it; False when it had ended already."""
        if self.ended:
            return False
        self.ended = True
        if self.due is not None:
            self.due.cancel()
        return True
