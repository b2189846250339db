"""What calls return: results to wait for and scheduled tasks."""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

from daffi._bridge import Block, interrupted, wait, wait_async
from daffi._modifiers import Modifier, already_ran

if TYPE_CHECKING:
    from daffi._caller import Settled

__all__ = ["AsyncResult", "AwaitableValue", "Outcome", "ScheduledTask"]

T = TypeVar("T")
_UNSET = object()


class Outcome(Generic[T]):
    """A future of raw replies and the function that turns them into the value (run by the waiter).

    ``block`` is how a thread waits for it (a link's ``wait`` reads the connection meanwhile).
    """

    def __init__(
        self,
        future: Future[Settled],
        finish: Callable[[Settled], T],
        what: str,
        call_id: int = 0,
        block: Block | None = None,
    ) -> None:
        self.future = future
        self.call_id = call_id
        self._block = block
        self._finish = finish
        self.what = what
        self._value: T | object = _UNSET
        self._lock = threading.Lock()
        #: Someone waited for it (a failure nobody waits for is logged by its producer).
        self.observed = False

    def _settle(self, raw: Settled) -> T:
        with self._lock:
            if self._value is _UNSET:
                self._value = self._finish(raw)
            return cast(T, self._value)

    def result(self, timeout: float | None = None) -> T:
        self.observed = True
        return self._settle(wait(self.future, timeout, self.what, self._block))

    async def result_async(self, timeout: float | None = None) -> T:
        self.observed = True
        return self._settle(await wait_async(self.future, timeout, self.what))


class AsyncResult(Generic[T]):
    """The result of a ``BG`` call, to collect later with ``get`` or ``get_async``.

    An async fetcher's ``BG`` call may be awaited: ``ares = await add(5, 15)`` gives this object at
    once (the call runs in the background), as it does without ``await``.
    """

    def __init__(self, outcome: Outcome[T], func_name: str, uuid: int) -> None:
        self._outcome = outcome
        self.func_name = func_name
        self.uuid = uuid

    def get(self, timeout: float | None = None) -> T:
        """Wait (at most ``timeout`` seconds) and return the result, or raise the call's error."""
        try:
            return self._outcome.result(timeout)
        except KeyboardInterrupt as interrupt:  # Ctrl-C: the traceback ends at the caller's line
            interrupted(interrupt)
            raise

    async def get_async(self, timeout: float | None = None) -> T:
        """Like ``get``, without blocking the event loop (asyncio or trio)."""
        return await self._outcome.result_async(timeout)

    def __await__(self) -> Generator[object, None, AsyncResult[T]]:
        return self._itself().__await__()

    async def _itself(self) -> AsyncResult[T]:
        return self

    @property
    def ready(self) -> bool:
        """The call has finished (its result or its error is there)."""
        return self._outcome.future.done()

    @property
    def error(self) -> BaseException | None:
        """The call's exception once it failed, else None."""
        if not self.ready:
            return None
        try:
            self._outcome.result(0)
        except BaseException as exc:
            return exc
        return None

    def __repr__(self) -> str:
        state = "ready" if self.ready else "pending"
        return f"<AsyncResult {self.func_name} #{self.uuid} {state}>"


#: A binary operator of the user's values (``operator.add`` & co.).
_Operator = Callable[[Any, Any], Any]


def _on_value(op: _Operator, reflected: bool = False) -> Callable[[AwaitableValue[T], object], Any]:
    """``AwaitableValue``'s ``op``: applied to the value it resolves to (``other op value`` when ``reflected``)."""
    if reflected:
        return lambda self, other: op(other, self._value())
    return lambda self, other: op(self._value(), other)


def _comparison(op: _Operator) -> Callable[[AwaitableValue[T], object], bool]:
    """``AwaitableValue``'s comparison ``op``, on the value it resolves to."""
    return lambda self, other: bool(op(self._value(), other))


class AwaitableValue(Generic[T]):
    """The result of an async fetcher: ``await`` it, or use it directly and it resolves.

    The call is already under way. Awaiting does not block the event loop; using
    the object as a value (printing, comparing, arithmetic) waits for the result.
    """

    __slots__ = ("_outcome",)

    def __init__(self, outcome: Outcome[T]) -> None:
        self._outcome = outcome

    def __and__(self, modifier: type[Modifier] | Modifier) -> NoReturn:
        """Always an error: the fetcher already ran, under its decorator's modifier."""
        already_ran(self, modifier)

    def __await__(self) -> Generator[object, None, T]:
        return self._outcome.result_async().__await__()

    def get(self, timeout: float | None = None) -> T:
        """Wait for the value (blocking)."""
        try:
            return self._outcome.result(timeout)
        except KeyboardInterrupt as interrupt:
            interrupted(interrupt)
            raise

    def _value(self) -> Any:  # the user's value, whatever its type: what the operators below work on
        return self.get()

    def __str__(self) -> str:
        return str(self._value())

    def __repr__(self) -> str:
        return repr(self._value())

    def __format__(self, spec: str) -> str:
        return format(self._value(), spec)

    def __bool__(self) -> bool:
        return bool(self._value())

    def __eq__(self, other: object) -> bool:
        return bool(self._value() == other)

    def __hash__(self) -> int:
        return hash(self._value())

    def __int__(self) -> int:
        return int(self._value())

    def __float__(self) -> float:
        return float(self._value())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._value(), name)

    # Comparisons and arithmetic work on the value (what the user's own types make of them).
    __getitem__ = _on_value(operator.getitem)
    __lt__ = _comparison(operator.lt)
    __le__ = _comparison(operator.le)
    __gt__ = _comparison(operator.gt)
    __ge__ = _comparison(operator.ge)
    __add__ = _on_value(operator.add)
    __radd__ = _on_value(operator.add, reflected=True)
    __sub__ = _on_value(operator.sub)
    __rsub__ = _on_value(operator.sub, reflected=True)
    __mul__ = _on_value(operator.mul)
    __rmul__ = _on_value(operator.mul, reflected=True)
    __truediv__ = _on_value(operator.truediv)
    __rtruediv__ = _on_value(operator.truediv, reflected=True)


class ScheduledTask:
    """A ``PERIOD`` task living on a remote node; ``cancel()`` stops it."""

    def __init__(self, canceller: Callable[[str, str], bool], process_name: str, uuid: str, func_name: str) -> None:
        self._canceller = canceller
        self.process_name = process_name
        self.uuid = uuid
        self.func_name = func_name

    def cancel(self) -> bool:
        """Stop the task; False when it had already finished or been cancelled."""
        return self._canceller(self.process_name, self.uuid)

    def __repr__(self) -> str:
        return f"<ScheduledTask {self.func_name} {self.uuid} on {self.process_name!r}>"
