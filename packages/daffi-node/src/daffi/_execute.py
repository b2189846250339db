"""Running a remote call under an execution modifier."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar, cast, overload

from daffi_core.errors import GlobalContextError, RemoteStoppedUnexpectedly
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import render, to_inspect
from daffi_core.suggest import callback_hint

from daffi import _serde
from daffi._args import Args
from daffi._bridge import Block, async_library, interrupted, wait
from daffi._caller import Caller, CallKind, Pending, RemoteIterator, Reply, Settled, call_head, decode
from daffi._contract import Contract
from daffi._durations import Duration
from daffi._errors import UnableToFindCandidate
from daffi._modifiers import BG, BROADCAST, FG, PERIOD, STREAM, AtTime, Modifier, as_modifier
from daffi._node import CallingNode, current
from daffi._registry import REGISTRY
from daffi._results import AsyncResult, AwaitableValue, Outcome, ScheduledTask
from daffi._v1 import RetryPolicy

__all__ = ["RECONNECT_GRACE", "RemoteCall", "UNKNOWN_CALLBACK_GRACE", "cancel_scheduled", "execute", "system"]

R = TypeVar("R")
T = TypeVar("T")
#: ``decode`` as an outcome's finish: the future of a call to one receiver settles with its reply.
_decode = cast("Callable[[Settled], object]", decode)
log = logging.getLogger("daffi")
#: How long a call waits for a callback nobody offers yet (a node may still be starting).
UNKNOWN_CALLBACK_GRACE = 3.0
#: How long a call waits for the connection to come back before it fails.
RECONNECT_GRACE = 5.0


class RemoteCall(Generic[R]):
    """A call waiting for its execution modifier: ``f(...) & FG`` (or, as in daffi 1.x, ``f(...).fg()``).

    ``R`` is the callback's result type (unknown for an untyped fetcher, ``Fetcher.call``); what
    ``& MODIFIER`` returns is typed per modifier: ``FG`` → ``R``, ``BG`` → ``AsyncResult[R]``,
    ``BROADCAST`` → ``dict[str, R]``, ``STREAM`` → ``None``, ``PERIOD`` → ``ScheduledTask``. (An async
    fetcher's ``FG``, ``BROADCAST`` and ``PERIOD`` results are ``AwaitableValue`` wrappers of these,
    typed so by ``daffi.remote``'s ``AsyncRemote``.)
    """

    __slots__ = ("args", "body", "contract", "is_async", "kwargs", "name", "node")

    def __init__(
        self,
        name: str,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        *,
        is_async: bool = False,
        body: Callable[..., object] | None = None,
        node: Callable[[], CallingNode] | None = None,
        contract: Contract | None = None,
    ) -> None:
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.is_async = is_async
        self.body = body
        #: The node to call through (a Global's ``g.call``); the running one when None.
        self.node = node
        #: A generated stub's contract (None for other fetchers).
        self.contract = contract

    @overload
    def __and__(self, modifier: type[FG] | FG) -> R: ...
    @overload
    def __and__(self, modifier: type[BG] | BG) -> AsyncResult[R]: ...
    @overload
    def __and__(self, modifier: type[BROADCAST] | BROADCAST) -> dict[str, R]: ...
    @overload
    def __and__(self, modifier: type[STREAM] | STREAM) -> None: ...
    @overload
    def __and__(self, modifier: PERIOD) -> ScheduledTask: ...
    def __and__(self, modifier: type[Modifier] | Modifier) -> object:
        """Run the call under ``modifier`` (a class or an instance) and return what that modifier returns."""
        try:
            return execute(self, as_modifier(modifier))
        except KeyboardInterrupt as interrupt:  # Ctrl-C: the traceback ends at the caller's line
            interrupted(interrupt)
            raise

    # The daffi 1.x spellings: each is ``call & MODIFIER(...)`` (see daffi._v1).
    def fg(self, timeout: Duration | None = None, retry_policy: RetryPolicy | None = None) -> R:
        """``& FG(timeout)``."""
        return self & FG(timeout, retry_policy=retry_policy)

    def bg(
        self,
        timeout: Duration | None = None,
        eta: Duration | None = None,
        retry_policy: RetryPolicy | None = None,
        no_return: bool = False,
    ) -> AsyncResult[R]:
        """``& BG(timeout, eta)``; ``no_return=True`` is ``return_result=False``."""
        return self & BG(timeout, eta, retry_policy=retry_policy, no_return=no_return)

    def broadcast(
        self,
        eta: Duration | None = None,
        return_result: bool = True,
        timeout: Duration | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> dict[str, R]:
        """``& BROADCAST(timeout, eta, return_result)``."""
        return self & BROADCAST(timeout, eta, return_result, retry_policy=retry_policy)

    def period(self, at_time: AtTime | None = None, interval: Duration | None = None) -> ScheduledTask:
        """``& PERIOD(at_time=..., interval=...)``."""
        return self & PERIOD(at_time, interval)

    def stream(self) -> None:
        """``& STREAM``."""
        return self & STREAM

    def __repr__(self) -> str:
        return f"<remote call {self.name}(...): apply a modifier with & FG, & BG, & BROADCAST, & STREAM or & PERIOD>"


def execute(call: RemoteCall[R], mod: Modifier) -> object:
    """Start ``call`` under ``mod``; async fetchers get an awaitable, sync ones the result.

    Ctrl-C while it waits cancels the call (its callee is told) and raises KeyboardInterrupt.
    """
    try:
        if mod.retry_policy is not None:
            return mod.retry_policy.run(lambda: _execute(call, mod))
        return _execute(call, mod)
    except KeyboardInterrupt as interrupt:
        interrupted(interrupt)
        raise


def _execute(call: RemoteCall[R], mod: Modifier) -> object:
    node = call.node() if call.node is not None else current(call.name)
    node.caller.forget_opened()
    try:
        return _dispatch(node, call, mod)
    except KeyboardInterrupt:  # before the call was handed to whoever waits for it: cancel it
        node.caller.cancel_opened()
        raise
    finally:
        node.caller.forget_opened()  # holding on to it would keep a dropped result's reply alive


def _dispatch(node: CallingNode, call: RemoteCall[R], mod: Modifier) -> object:
    if isinstance(mod, STREAM):
        return _stream(node, call, mod)
    args, kwargs = _arguments(node, call)
    sig = _signature(node, call.name)  # once per call
    if sig.is_generator and not isinstance(mod, FG):
        raise GlobalContextError(
            f"callback {call.name!r} is a generator: its items stream back under FG only (got {mod.name})"
        )
    if isinstance(mod, BROADCAST):
        gathered = _start(
            node, sig, args, kwargs, mod, call.contract, fanout=pb.CallHead.ALL, kind="all", finish=_gather
        )
        return AwaitableValue(gathered) if call.is_async else gathered.result()
    if isinstance(mod, PERIOD):
        schedule = pb.Schedule(at_time=mod.at_time or (), interval=mod.interval or 0.0)

        def scheduled(settled: Settled) -> ScheduledTask:
            reply = cast(Reply, settled)
            return ScheduledTask(
                lambda process, uuid: cancel_scheduled(node, process, uuid), reply.peer, decode(reply), call.name
            )

        task = _start(
            node,
            sig,
            args,
            kwargs,
            mod,
            call.contract,
            action=pb.CallHead.SCHEDULE,
            schedule=schedule,
            finish=scheduled,
        )
        return AwaitableValue(task) if call.is_async else task.result()
    if sig.is_generator:
        return RemoteIterator(node.caller, _open(node, sig, args, kwargs, mod, call.contract, kind="gen"))
    outcome = _start(node, sig, args, kwargs, mod, call.contract, finish=_decode)
    if isinstance(mod, BG):
        return AsyncResult(outcome, call.name, outcome.call_id)
    assert isinstance(mod, FG)
    return AwaitableValue(outcome) if call.is_async else outcome.result()


def _arguments(node: CallingNode, call: RemoteCall[R]) -> tuple[tuple[object, ...], dict[str, object]]:
    """The callback's arguments: as given, or what an ``args_from_body`` body returns."""
    if call.body is None:
        return call.args, call.kwargs
    result = _run_body(node, call)
    if isinstance(result, Args):
        return result.args, dict(result.kwargs)
    if isinstance(result, tuple):
        return result, {}
    return (result,), {}


def _run_body(node: CallingNode, call: RemoteCall[R]) -> object:
    """What an ``args_from_body`` body returns (a user's value: the arguments of the call)."""
    assert call.body is not None
    if inspect.iscoroutinefunction(call.body):
        body = cast(Callable[..., Coroutine[object, object, object]], call.body)

        async def run() -> object:
            return await body(*call.args, **call.kwargs)

        return node.runner.submit(run).result()
    return call.body(*call.args, **call.kwargs)


def _signature(node: CallingNode, name: str) -> pb.CallbackSignature:
    """The callee's announced signature, waiting briefly for a node that is still starting."""
    sig = node.catalog.signature(name)
    if sig is not None:
        return sig
    if not node.connected:  # the catalog is empty while reconnecting: wait for the connection first
        _connected(node, name)
        sig = node.catalog.signature(name)
        if sig is not None:
            return sig
    deadline = time.monotonic() + UNKNOWN_CALLBACK_GRACE
    while True:
        future = node.catalog.when(lambda nodes: any(name in cbs for cbs in nodes.values()))
        try:
            future.result(max(0.0, deadline - time.monotonic()))
        except Exception:
            node.catalog.forget(future)
            local = (
                " (only this node offers it, and a call never goes back to the caller)"
                if REGISTRY.get(name) is not None
                else ""
            )
            offered = [cb for cbs in node.catalog.offers().values() for cb in cbs]
            raise UnableToFindCandidate(
                f"no node offers callback {name!r}{local}; {callback_hint(name, offered)}; "
                f"callbacks of other nodes:\n{node.catalog.describe()}"
            ) from None
        found = node.catalog.signature(name)
        if found is not None:
            return found
        # The node offering it left again between the wake-up and this read (a controller restart
        # clears the view): wait again, within the same grace.


#: Per callback: its signature message, as ``inspect.Signature``, and the positional counts that surely
#: bind (min, max) when only positional arguments are given (None when binding must look closer).
_bound_cache: dict[str, tuple[pb.CallbackSignature, inspect.Signature, tuple[int, int] | None]] = {}
_PLAIN_KINDS = (pb.Parameter.POSITIONAL_ONLY, pb.Parameter.POSITIONAL_OR_KEYWORD)


def _positional_range(sig: pb.CallbackSignature) -> tuple[int, int] | None:
    params = sig.parameters
    if any(p.kind not in _PLAIN_KINDS for p in params):
        return None
    return sum(1 for p in params if not p.has_default), len(params)


def _check(sig: pb.CallbackSignature, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    cached = _bound_cache.get(sig.name)
    if cached is None or cached[0] is not sig:
        cached = (sig, to_inspect(sig), _positional_range(sig))
        _bound_cache[sig.name] = cached
    plain = cached[2]
    if plain is not None and not kwargs and plain[0] <= len(args) <= plain[1]:
        return  # what nearly every call looks like: no need to bind
    try:
        cached[1].bind(*args, **kwargs)
    except TypeError as exc:
        raise GlobalContextError(
            f"arguments do not fit remote callback {sig.name!r}: {exc}\nFunction signature: {render(sig)}"
        ) from None


def _connected(node: CallingNode, name: str) -> None:
    if not node.connected and not node.link.wait_connected(RECONNECT_GRACE):
        raise RemoteStoppedUnexpectedly(
            f"call to {name!r} failed: not connected to the "
            f"{node.link.server_kind} at {node.link.address} (still reconnecting)"
        )


def _open(
    node: CallingNode,
    sig: pb.CallbackSignature,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    mod: Modifier,
    contract: Contract | None,
    *,
    kind: CallKind = "one",
    fanout: int = pb.CallHead.ONE,
    action: int = pb.CallHead.RUN,
    schedule: pb.Schedule | None = None,
) -> Pending:
    differs = contract is not None and _differs(node, contract)
    # A stub made from another signature: its arguments fit the stub (mypy saw to it); whether
    # they still fit the callback is the callee's verdict (SignatureMismatch), not a local guess.
    _check(contract.signature if differs and contract is not None else sig, args, kwargs)
    try:
        payload, encoding = _serde.dumps((args, kwargs))
    except Exception as exc:
        raise GlobalContextError(f"cannot serialize the arguments of {sig.name!r}: {exc}") from exc
    _connected(node, sig.name)
    head = call_head(sig.name, mod, fanout=fanout, action=action, schedule=schedule)
    if contract is not None:
        _stamp(head, contract, differs)
    return node.caller.open(head, payload, encoding, kind, mod.timeout)


def _differs(node: CallingNode, contract: Contract) -> bool:
    """Some node offering the callback announced a signature other than the stub's."""
    return node.catalog.fingerprints(contract.signature.name) != {contract.fingerprint}


def _stamp(head: pb.CallHead, contract: Contract, differs: bool) -> None:
    """What a call through a stub carries: the fingerprint, and the signature when it may be needed."""
    head.fingerprint = contract.fingerprint
    if differs:
        head.expected.CopyFrom(contract.signature)


def _start(
    node: CallingNode,
    sig: pb.CallbackSignature,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    mod: Modifier,
    contract: Contract | None,
    *,
    finish: Callable[[Settled], T],
    kind: CallKind = "one",
    fanout: int = pb.CallHead.ONE,
    action: int = pb.CallHead.RUN,
    schedule: pb.Schedule | None = None,
) -> Outcome[T]:
    pending = _open(node, sig, args, kwargs, mod, contract, kind=kind, fanout=fanout, action=action, schedule=schedule)
    return Outcome(
        pending.future, finish, f"remote callback {sig.name!r}", pending.call_id, _block(node.caller, pending)
    )


def _block(caller: Caller, pending: Pending) -> Block:
    """How a thread waits for ``pending``: interrupted (Ctrl-C), it cancels the call first."""

    def block(future: Future[T], timeout: float | None, /) -> T:
        try:
            return caller.wait(future, timeout)
        except KeyboardInterrupt:
            caller.cancel(pending)
            raise

    return block


def _gather(settled: Settled) -> dict[str, object]:
    """``{process_name: result}``; the first failure is raised with every result attached."""
    if isinstance(settled, Reply):  # the controller refused the call as a whole
        decode(settled)
    replies = cast("dict[str, Reply]", settled)
    results: dict[str, object] = {}
    failure: BaseException | None = None
    for peer in sorted(replies):
        try:
            results[peer] = decode(replies[peer])
        except Exception as exc:
            results[peer] = exc
            failure = failure or exc
    if failure is not None:
        failure.results = results  # type: ignore[attr-defined]
        raise failure
    return results


def _stream(node: CallingNode, call: RemoteCall[R], mod: STREAM) -> AwaitableValue[None] | None:
    items: Iterable[object]
    if call.body is not None:
        items = _run_body_items(call)
    else:
        if len(call.args) != 1 or call.kwargs:
            raise GlobalContextError(
                f"STREAM takes one iterable of items: {call.name}(items) & STREAM (got {len(call.args)} "
                f"positional and {len(call.kwargs)} keyword arguments)"
            )
        given = call.args[0]
        if not isinstance(given, Iterable) or isinstance(given, (str, bytes)):
            raise GlobalContextError(f"STREAM needs an iterable of items, not {type(given).__name__}")
        items = given
    _signature(node, call.name)
    _connected(node, call.name)
    head = call_head(call.name, mod, fanout=pb.CallHead.ALL, action=pb.CallHead.STREAM)
    if call.contract is not None:
        _stamp(head, call.contract, _differs(node, call.contract))

    def push() -> None:
        pending = node.caller.open(head, b"", 0, "stream", None)
        _gather(node.caller.push_stream(pending, items, mod.timeout))

    if not call.is_async or async_library() is None:
        # From sync code nobody could await the stream: it runs to the end here (never cut short
        # by a stop() that follows).
        push()
        return None
    future: Future[Settled] = Future()
    outcome = Outcome(future, _nothing, f"STREAM to {call.name!r}")

    def run() -> None:
        try:
            push()
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            if not outcome.observed:  # nobody awaits it (yet): a lost stream is never silent
                log.error("STREAM to %r failed before it was awaited: %s", call.name, exc)

    threading.Thread(target=run, name=f"daffi-stream-{call.name}", daemon=True).start()
    return AwaitableValue(outcome)


def _nothing(settled: Settled) -> None:
    """What a STREAM returns once every receiver is done."""


def _run_body_items(call: RemoteCall[R]) -> Iterable[object]:
    assert call.body is not None
    result = call.body(*call.args, **call.kwargs)
    if not isinstance(result, Iterable):
        raise GlobalContextError(f"the body of STREAM fetcher {call.name!r} must yield or return an iterable")
    return result


# ---------------------------------------------------------------- operations on a named node


def system(node: CallingNode, remote_process: str, op: str, arg: object, timeout: float | None = None) -> Any:
    """Run node-runtime operation ``op`` on ``remote_process`` (``transfer_and_call`` & co.)."""
    if not node.catalog.has_process(remote_process):
        raise GlobalContextError(
            f"no node named {remote_process!r} is connected; connected: {sorted(node.catalog.offers()) or 'none'}"
        )
    payload, encoding = _serde.dumps(arg)
    head = call_head(op, target=remote_process, action=pb.CallHead.SYSTEM)
    pending = node.caller.open(head, payload, encoding, "one", timeout)
    settled = wait(pending.future, None, f"{op} on {remote_process!r}", _block(node.caller, pending))
    return decode(cast(Reply, settled))


def cancel_scheduled(node: CallingNode, remote_process: str, uuid: str) -> bool:
    """Cancel a PERIOD task; False when it had already finished or been cancelled."""
    return bool(system(node, remote_process, "cancel_scheduled_task", uuid))
