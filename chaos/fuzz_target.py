"""The fuzz target of ``hatch run chaos:fuzz``: bytes → both transports' parsers → the controller's real handling.

One input is a script of what several nodes do to one in-process controller (both fronts on one
``Switchboard``): gRPC streams (``ControllerServicer``, only the stream object faked: :class:`Stream`) and
socket-transport connections (chaos/fuzz_socket.py, only the asyncio transport faked). After each step and
at the end, :func:`_check` and :func:`run_script` hold the controller to its invariants (registry, routes,
batches written, handlers' outcomes, logs, tokens; chaos/fuzz_guard.py: no unpickling); a violation raises
:class:`InvariantViolation`, which libFuzzer reports as a crash. docs/reliability-fuzz.md lists every check.

``python -m chaos.fuzz_target [libFuzzer flags] [corpus dirs]`` runs atheris directly;
``python -m chaos.fuzz_target FILE_OR_DIR ...`` replays inputs (a saved crash, the seed corpus
chaos/fuzz_corpus/, which is data: one file per script) without atheris and prints each one's script.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chaos.fuzz_guard import ERRORS, SECRETS, TOKEN, TRIPWIRE, UNPICKLED, WRONG_TOKEN
from chaos.fuzz_guard import tripwire as _tripwire

try:
    import atheris
except ImportError:  # the unit suite replays inputs without the engine, which is in the chaos environment only
    atheris = None

if TYPE_CHECKING:
    from chaos.fuzz_socket import Conn

__all__ = ["SECRETS", "TOKEN", "TRIPWIRE", "WRONG_TOKEN", "_tripwire"]  # the corpus's pickle names _tripwire here
if __name__ == "__main__":  # run as a script: chaos/fuzz_socket.py imports this very module, not a second copy
    sys.modules.setdefault("chaos.fuzz_target", sys.modules[__name__])
T = TypeVar("T")
SEEDS = Path(__file__).resolve().parent / "fuzz_corpus"
#: Instrumented for atheris's coverage, unless replaying (chaos.fuzz's line coverage and the unit suite).
_PLAIN = atheris is None or bool(os.environ.get("DAFFI_FUZZ_PLAIN"))
with contextlib.nullcontext() if _PLAIN else atheris.instrument_imports(include=["daffi_controller", "daffi_core"]):
    import daffi_core.outbox
    import grpc
    from daffi_controller.grpc_service import ControllerServicer
    from daffi_controller.registry import Peer
    from daffi_controller.socket_service import SocketService
    from daffi_controller.switchboard import Switchboard
    from daffi_core.proto import daffi_pb2 as pb
    from daffi_core.protocol import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
    from daffi_core.transport.socket import server as socket_server

M = pb.Message
#: The outbox closes a batch once it holds BATCH_BYTES (MiB), which keeps batches under gRPC's message limit, and
#: the controller stops reading a sender while a receiver has QUEUE_HIGH_BYTES (MiB) queued. Fuzz inputs are a
#: few KiB, so both are scaled down to where they are reached, and the batch property is checked at that scale.
SMALL_BATCH = 1024
assert {"BATCH_BYTES", "QUEUE_HIGH_BYTES", "QUEUE_LOW_BYTES"} <= set(vars(daffi_core.outbox)), "outbox changed"
daffi_core.outbox.BATCH_BYTES = SMALL_BATCH  # type: ignore[attr-defined]
daffi_core.outbox.QUEUE_HIGH_BYTES = 2 * SMALL_BATCH  # type: ignore[attr-defined]
daffi_core.outbox.QUEUE_LOW_BYTES = SMALL_BATCH  # type: ignore[attr-defined]


def _plant(kind: str) -> None:
    """A deliberate bug, to show that the target catches one (``chaos.fuzz --canary``)."""
    from daffi_controller.router import Router

    if kind == "leak":  # a departed caller's calls stay routed
        drop_node = Router.drop_node

        def leaky_drop_node(self: Router, name: str) -> None:
            self._by_caller.pop(name, None)
            drop_node(self, name)

        Router.drop_node = leaky_drop_node  # type: ignore[method-assign]
    elif kind == "raise":  # a cancel of an open call blows up the reader
        handle = Router.handle

        def raising_handle(self: Router, sender: Peer, msg: pb.Message, *rest: Any) -> None:
            if msg.kind == M.CANCEL and (sender.name, msg.call_id) in self._routes:
                raise KeyError(msg.call_id)
            handle(self, sender, msg, *rest)

        Router.handle = raising_handle  # type: ignore[method-assign,assignment]
    elif kind == "token":  # the socket transport lets any token in
        import types

        socket_server.hmac = types.SimpleNamespace(compare_digest=lambda given, token: True)  # type: ignore[attr-defined,assignment]
    else:
        raise ValueError(f"unknown canary {kind!r}")


if os.environ.get("DAFFI_FUZZ_CANARY"):
    _plant(os.environ["DAFFI_FUZZ_CANARY"])


class InvariantViolation(AssertionError):
    """A property of the controller that the input broke: the fuzzer reports it as a crash."""


# ------------------------------------------------------------------------------ the input grammar

NAMES = ("alpha", "beta", "gamma", "delta")
JOIN_NAMES = (*NAMES, "")  # "" is refused
VERSIONS = (PROTOCOL_VERSION, PROTOCOL_VERSION, 0, PROTOCOL_VERSION + 1)
CALLBACKS = ("add", "hang", "gen", "x" * 40)
ANY_CALLBACK = (*CALLBACKS, "", "nope")
ANY_PEER = (*NAMES, "", "ghost")
KINDS = (M.CALL, M.ITEM, M.END, M.CANCEL, M.ACK_YIELDS, M.REPLY, M.YIELD, M.ACK_ITEMS, M.ACCEPTED, 0, 99)
CALL_IDS = (1, 2, 3, 0, 2**64 - 1)
REPEATS = (1, 1, 2, 50)
#: How the first message of a joining stream looks.
HELLO_STYLES = ("hello", "hello+frames", "not-hello", "eof", "silent")

GRPC_OPS = ("join", "send", "raw", "eof", "lost", "cancel", "write-fails", "close", "stall")
SOCKET_OPS = ("dial", "frames", "bytes", "hangup", "drop", "slow")  # chaos/fuzz_socket.py
OPS = (*GRPC_OPS, *SOCKET_OPS)
MAX_OPS = 48
MAX_STREAMS = 7
RAW_MAX = 2048


class Draw:
    """The fuzzer's choices, read as libFuzzer's (and atheris's) ``FuzzedDataProvider`` reads them: integers
    big-endian from the end of the input, byte strings from its front. Plain Python, so that an input means the
    same script with or without the engine."""

    def __init__(self, data: bytes) -> None:
        self._data, self._front, self._back = data, 0, len(data)

    def left(self) -> int:
        return self._back - self._front

    def number(self, lo: int, hi: int) -> int:
        span, value, bits = hi - lo, 0, 0
        while bits < 64 and span >> bits and self._back > self._front:
            self._back -= 1
            value = value << 8 | self._data[self._back]
            bits += 8
        return lo + (value % (span + 1) if span != 2**64 - 1 else value)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.number(0, len(options) - 1)]

    def flag(self) -> bool:
        return self.number(0, 1) == 1

    def blob(self, most: int) -> bytes:
        size = min(self.number(0, most), self.left())
        self._front += size
        return self._data[self._front - size : self._front]


def _callbacks(mask: int) -> list[pb.CallbackSignature]:
    return [
        pb.CallbackSignature(name=name, is_generator=name == "gen") for i, name in enumerate(CALLBACKS) if mask >> i & 1
    ]


def _message(d: Draw) -> pb.Message:
    kind: Any = d.pick(KINDS)  # unknown values too (proto3 enums are open)
    msg = M(kind=kind, call_id=d.pick(CALL_IDS), peer=d.pick(ANY_PEER), more=d.flag(), continuation=d.flag())
    payload = d.number(0, 2)
    if payload:
        msg.payload = TRIPWIRE if payload == 1 else d.blob(32)
        msg.encoding = pb.PICKLE
    if kind == M.CALL or d.flag():
        msg.head.CopyFrom(
            pb.CallHead(
                name=d.pick(ANY_CALLBACK),
                fanout=d.number(0, 2),  # type: ignore[arg-type]  # 2 is no Fanout: an unknown enum value
                target=d.pick(("", "", *ANY_PEER)),
                action=d.number(0, 4),  # type: ignore[arg-type]
            )
        )
    extra = d.number(0, 3)
    if extra == 1:
        msg.error.CopyFrom(pb.Error(kind=pb.Error.CALLBACK_RAISED, message="boom"))
    elif extra == 2:
        msg.count = d.number(0, 3)
    elif extra == 3:
        msg.targets.append(d.pick(ANY_PEER))
    return msg


def _frame(d: Draw) -> pb.Frame:
    body = d.number(0, 7)
    if body <= 3:
        return pb.Frame(message=_message(d))
    if body == 4:
        return pb.Frame(callbacks=pb.CallbackList(callbacks=_callbacks(d.number(0, 15))))
    if body == 5:
        return pb.Frame(hello=pb.Hello(protocol_version=d.pick(VERSIONS), process_name=d.pick(JOIN_NAMES)))
    if body == 6:
        return d.pick(
            (
                pb.Frame(welcome=pb.Welcome()),
                pb.Frame(reject=pb.Reject(reason=pb.Reject.BAD_HELLO)),
                pb.Frame(node_joined=pb.NodeInfo(process_name="ghost")),
                pb.Frame(node_left=pb.NodeLeft(process_name=d.pick(NAMES))),
            )
        )
    return pb.Frame()


def _batch(d: Draw) -> pb.Batch:
    frames = [_frame(d) for _ in range(d.number(1, 6))]
    return pb.Batch(frames=frames * d.pick(REPEATS))


def _hello(d: Draw) -> tuple[str, str, bytes | None, str]:
    """A joining node's first message, on either transport: its name, what it is, its bytes (None: it sends
    none) and style."""
    name = d.pick(JOIN_NAMES)
    version = d.pick(VERSIONS)
    callbacks = _callbacks(d.number(0, 15))
    style = d.pick(HELLO_STYLES)
    hello = pb.Frame(hello=pb.Hello(protocol_version=version, process_name=name, callbacks=callbacks))
    first: bytes | None = None
    if style == "hello":
        first = pb.Batch(frames=[hello]).SerializeToString()
    elif style == "hello+frames":
        first = pb.Batch(frames=[hello, *_batch(d).frames]).SerializeToString()
    elif style == "not-hello":
        first = _batch(d).SerializeToString()
    return name, f"{name!r} v{version} {[c.name for c in callbacks]} {style}", first, style


# ------------------------------------------------------------------------------ the stream and the run

_EOF = object()


def _parse(data: bytes) -> pb.Batch | None:
    try:
        return pb.Batch.FromString(data)
    except Exception:
        return None


def _without_peer(msg: pb.Message) -> bytes:
    copy = M()
    copy.CopyFrom(msg)
    copy.ClearField("peer")
    return copy.SerializeToString(deterministic=True)


def _lost() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "fuzz: connection lost"
    )


class Aborted(Exception):
    """What ``context.abort`` raises (grpc.aio raises its own AbortError there)."""


@dataclass(eq=False)
class Stream:
    """One node's ``Connect`` call as the servicer sees it: the fake ``ServicerContext``."""

    name: str
    run: Run
    inbox: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None
    welcomed: bool = False
    rejected: bool = False
    write_fails: BaseException | None = None
    stalled: asyncio.Event | None = None  # set: writes wait (a slow node)
    cancelled: bool = False
    injected: list[BaseException] = field(default_factory=list)
    aborted: tuple[grpc.StatusCode, str] | None = None
    _eof: bool = False
    _read_any: bool = False

    def send(self, raw: bytes) -> None:
        self.run.count_in(raw)
        self.inbox.put_nowait(raw)

    async def read(self) -> object:
        if self._eof:
            return grpc.aio.EOF
        item = await self.inbox.get()
        if item is _EOF:
            self._eof = True
            return grpc.aio.EOF
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, bytes)
        if not self._read_any:
            self._read_any = True
            first = _parse(item)
            if first is not None and first.frames and first.frames[0].HasField("hello"):
                self.name = first.frames[0].hello.process_name  # the name the controller knows it by
        return item  # Connect has no deserializer: the servicer gets the bytes as they came

    async def write(self, data: object) -> None:
        if self.stalled is not None:
            await self.stalled.wait()
        if self.write_fails is not None:
            raise self.write_fails
        try:
            self.run.check_written(self, data)
        except InvariantViolation as violation:  # the servicer swallows what its writer raises: keep it
            self.run.violations.append(violation)
            raise

    def peer(self) -> str:
        return f"ipv4:127.0.0.1:{40000 + self.run.streams.index(self)}"

    async def abort(self, code: grpc.StatusCode, details: str = "", *args: object) -> None:
        self.aborted = (code, details)
        raise Aborted(f"{code.name}: {details}")


@dataclass(eq=False)
class Run:
    """One input: the controller's fronts, their streams and connections, and what went in and out."""

    data: bytes
    servicer: ControllerServicer
    service: SocketService
    streams: list[Stream] = field(default_factory=list)
    conns: list[Conn] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    frames_in: int = 0
    calls_in: int = 0
    frames_out: int = 0
    sent: set[bytes] = field(default_factory=set)  # every message a node sent, without its peer
    violations: list[InvariantViolation] = field(default_factory=list)

    def nodes(self) -> list[Stream | Conn]:
        return [*self.streams, *self.conns]

    def fail(self, what: str) -> InvariantViolation:
        script = "; ".join(self.log)
        return InvariantViolation(f"{what}\n  script: {script[:4000]}")

    def count_in(self, raw: bytes) -> None:
        batch = _parse(raw)
        if batch is None:
            return
        self.frames_in += len(batch.frames)
        for frame in batch.frames:
            if frame.HasField("message"):
                self.sent.add(_without_peer(frame.message))
                if frame.message.kind == M.CALL and not frame.message.continuation:
                    self.calls_in += 1

    def check_written(self, stream: Stream | Conn, data: object) -> None:
        if not isinstance(data, bytes):
            raise self.fail(f"wrote a {type(data).__name__} to {stream.name!r}, not bytes")
        if len(data) > MAX_MESSAGE_BYTES:
            raise self.fail(f"wrote {len(data)} bytes to {stream.name!r}: over gRPC's limit")
        batch = _parse(data)
        if batch is None:
            raise self.fail(f"wrote bytes to {stream.name!r} that do not parse as a Batch: {data[:200]!r}")
        before_last = sum(f.ByteSize() + 2 for f in batch.frames[:-1])
        if before_last >= SMALL_BATCH:
            raise self.fail(
                f"wrote a batch of {len(batch.frames)} frames to {stream.name!r} that had reached {before_last} "
                f"bytes before its last frame (the outbox's limit is {SMALL_BATCH}): at scale, over gRPC's limit"
            )
        for frame in batch.frames:
            self.frames_out += 1
            body = frame.WhichOneof("body")
            if body == "welcome":
                stream.welcomed = True
            elif body == "reject":
                stream.rejected = True
            elif body == "message":
                self._check_message(stream, frame.message)

    def _check_message(self, stream: Stream | Conn, msg: pb.Message) -> None:
        """A message the controller wrote is one a node sent, as sent but for ``peer``, or one of its own."""
        if _without_peer(msg) in self.sent:
            if msg.peer not in {s.name for s in self.nodes()} or not msg.peer:
                raise self.fail(f"a message reached {stream.name!r} from peer {msg.peer!r}, no node of that name")
            return
        own = not msg.payload and (
            (msg.kind == M.REPLY and msg.HasField("error")) or msg.kind in (M.CANCEL, M.ACCEPTED)
        )
        if not own:
            raise self.fail(
                f"a message reached {stream.name!r} that no node sent and the controller never makes: {msg}"
            )

    def stream(self, d: Draw) -> Stream | None:
        if not self.streams:
            return None
        return self.streams[d.number(0, len(self.streams) - 1)]


async def _settle(run: Run) -> None:
    """Run the loop until nothing is ready: every handler then waits for its node (or a timer that never fires)."""
    ready = asyncio.get_running_loop()._ready  # type: ignore[attr-defined]  # no I/O here: quiescent when empty
    for _ in range(100_000):
        await asyncio.sleep(0)
        if not ready:
            return
    raise run.fail("the controller never stops running (100,000 loop turns)")


def _check(run: Run) -> None:
    if run.violations:
        raise run.violations[0]
    sockets = sock.check(run)  # the names of the socket nodes welcomed and still connected
    servicer = run.servicer
    registry, router = servicer.registry, servicer.router
    running = [s for s in run.streams if s.task is not None and not s.task.done()]
    # A stalled (slow) node may be joined before its Welcome is written, and a handler whose node left
    # waits up to _WRITER_DRAIN for a writer stuck on such a node.
    must = {s.name for s in running if s.welcomed and s.stalled is None} | sockets
    may = {s.name for s in running if s.welcomed or s.stalled is not None} | sockets
    if not must <= set(registry.nodes) <= may:
        raise run.fail(
            f"registry holds {sorted(registry.nodes)}, the open welcomed streams and connections are {sorted(must)}"
        )
    for name, offers in registry._offers.items():
        if not offers or len(set(offers)) != len(offers):
            raise run.fail(f"offers of {name!r} are {offers}")
        for node in offers:
            if node not in registry.nodes or name not in registry.nodes[node].callbacks:
                raise run.fail(f"{node!r} is listed as offering {name!r} but does not")
    if not set(registry._turn) <= set(registry._offers):
        raise run.fail(f"round-robin turns kept for {sorted(set(registry._turn) - set(registry._offers))}")
    routes = router._routes
    if len(routes) > run.calls_in:
        raise run.fail(f"{len(routes)} open calls after {run.calls_in} CALL frames")
    for key, route in routes.items():
        targets = route.targets
        if not targets:
            raise run.fail(f"call {key} is open with no callee")
        for name in (key[0], *targets):
            if name not in registry.nodes:
                raise run.fail(f"call {key} still names {name!r}, which is not connected")
        if key not in router._by_caller.get(key[0], ()):
            raise run.fail(f"call {key} is missing from its caller's index")
        for name in targets:
            if key not in router._by_callee.get(name, ()):
                raise run.fail(f"call {key} is missing from the index of callee {name!r}")
    for index in (router._by_caller, router._by_callee):
        for name, keys in index.items():
            if not keys or any(key not in routes for key in keys):
                raise run.fail(f"index of {name!r} holds {keys} (open: {sorted(routes)})")
    nodes = len(run.nodes())
    bound = (nodes + 2) * (run.frames_in + 2 * nodes + 1)
    if run.frames_out > bound:
        raise run.fail(f"{run.frames_out} frames written for {run.frames_in} read (bound {bound})")
    if ERRORS.records:
        raise run.fail("logged at ERROR: " + " | ".join(ERRORS.records)[:4000])
    leaks = [line for line in ERRORS.leaks if not any(s.encode() in run.data and s in line for s in SECRETS)]
    if leaks:
        raise run.fail(f"a token was logged: {leaks[0][:300]}")
    if UNPICKLED:
        raise run.fail("; ".join(UNPICKLED))


def _join(run: Run, d: Draw) -> None:
    name, about, first, style = _hello(d)
    run.log.append(f"join {about}")
    if len(run.streams) >= MAX_STREAMS:
        return
    stream = Stream(name, run)
    if first is not None:
        stream.send(first)
    elif style == "eof":
        stream.inbox.put_nowait(_EOF)
    run.streams.append(stream)
    stream.task = asyncio.create_task(run.servicer.Connect(stream, stream))  # type: ignore[arg-type]


def _stream_op(stream: Stream, op: str) -> None:
    """What happens to a node's gRPC stream: its end, a broken connection, a cancel, a write that fails, a slow
    reader (``stall`` again: it catches up)."""
    if op == "eof":
        stream.inbox.put_nowait(_EOF)
    elif op in ("lost", "write-fails"):  # a call whose write failed is over: its reads fail too
        error = _lost()
        stream.injected.append(error)
        stream.inbox.put_nowait(error)
        if op == "write-fails":
            stream.write_fails = error
    elif op == "cancel":
        if stream.task is not None and not stream.task.done():
            stream.cancelled = True
            stream.task.cancel()
    elif op == "stall":
        if stream.stalled is None:
            stream.stalled = asyncio.Event()
        else:
            stream.stalled.set()
            stream.stalled = None


async def _step(run: Run, d: Draw) -> None:
    op = d.pick(OPS)
    if op in SOCKET_OPS:
        sock.step(run, op, d)
    elif op == "join":
        _join(run, d)
    elif op == "close":
        run.log.append("close")
        run.servicer.close()
        run.service.close()
    else:
        stream = run.stream(d)
        if stream is None:
            run.log.append(f"{op} (no stream)")
            return
        if op == "send":
            batch = _batch(d)
            run.log.append(f"send {stream.name!r} {len(batch.frames)} frames")
            stream.send(batch.SerializeToString())
        elif op == "raw":
            raw = d.blob(RAW_MAX)
            run.log.append(f"raw {stream.name!r} {raw.hex()}")
            stream.send(raw)
        else:
            run.log.append(f"{op} {stream.name!r}")
            _stream_op(stream, op)
    await _settle(run)
    _check(run)


def _outcome(run: Run, stream: Stream) -> None:
    """The handler of ``stream`` returned or raised only as documented."""
    task = stream.task
    assert task is not None
    if not task.done():
        raise run.fail(f"the handler of {stream.name!r} did not return after its stream ended")
    if task.cancelled():
        if not stream.cancelled:
            raise run.fail(f"the handler of {stream.name!r} was cancelled by nobody")
        return
    failure = task.exception()
    if failure is None or isinstance(failure, Aborted):
        return
    if any(failure is e for e in stream.injected) and not stream.welcomed:
        return  # a transport error while waiting for the Hello: gRPC ends the call with it
    raise run.fail(f"the handler of {stream.name!r} raised {failure!r}") from failure


async def run_script(data: bytes) -> Run:
    """Play one input against a fresh servicer; raises InvariantViolation."""
    ERRORS.records.clear()
    ERRORS.leaks.clear()
    board = Switchboard()  # both fronts on one switchboard, as ControllerServer would have either of them
    run = Run(data, ControllerServicer(hello_timeout=3600.0, board=board), SocketService(board, hello_timeout=3600.0))
    d = Draw(data)
    try:
        while d.left() > 0 and len(run.log) < MAX_OPS:
            await _step(run, d)
        for stream in run.streams:  # every node catches up and hangs up
            if stream.stalled is not None:
                stream.stalled.set()
                stream.stalled = None
            stream.inbox.put_nowait(_EOF)
        sock.hang_up_all(run)
        await _settle(run)
        sock.tear_down_all(run)
        await _settle(run)
        tasks = [s.task for s in run.streams if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        if run.violations:
            raise run.violations[0]
        for stream in run.streams:
            _outcome(run, stream)
        _check(run)
        registry, router = run.servicer.registry, run.servicer.router
        left = {
            "nodes": registry.nodes,
            "offers": registry._offers,
            "turns": registry._turn,
            "routes": router._routes,
            "by_caller": router._by_caller,
            "by_callee": router._by_callee,
            "socket sessions": run.service._sessions,
            "connections not lost": [c.label for c in run.conns if not c.wire.lost],
        }
        for what, table in left.items():
            if table:
                raise run.fail(f"{what} not empty after every node left: {table}")
        return run
    finally:
        for stream in run.streams:
            if stream.task is not None and not stream.task.done():
                stream.task.cancel()


_LOOP = asyncio.new_event_loop()


def _cancel_leftovers() -> list[asyncio.Task[Any]]:
    left = [t for t in asyncio.all_tasks(_LOOP) if not t.done()]
    for task in left:
        task.cancel()
    if left:
        _LOOP.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    return left


def _cancel_timers() -> list[asyncio.TimerHandle]:
    left = [t for t in _LOOP._scheduled if not t.cancelled()]  # type: ignore[attr-defined]
    for timer in left:
        timer.cancel()
    return left


def play(data: bytes) -> Run:
    """Play one input to the end; raises InvariantViolation."""
    try:
        run = _LOOP.run_until_complete(run_script(data))
    finally:
        left = _cancel_leftovers()
        timers = _cancel_timers()
    if left:
        raise InvariantViolation(f"{len(left)} task(s) left on the loop after every handler returned: {left[:3]}")
    if timers:
        raise InvariantViolation(f"{len(timers)} timer(s) left on the loop after every connection ended: {timers[:3]}")
    return run


def test_one_input(data: bytes) -> None:
    """atheris's entry point."""
    play(data)


# The socket half of the target uses the grammar, Run and Seed above (and is imported after the controller).
from chaos import fuzz_socket as sock  # noqa: E402


def replay(paths: Sequence[Path]) -> int:
    """Play every input file (of the directories) given; print each one's script. 1 if any broke an invariant."""
    broken = 0
    for path in sorted(p for given in paths for p in (sorted(given.iterdir()) if given.is_dir() else [given])):
        try:
            run = play(path.read_bytes())
            print(f"{path.name}: {len(run.log)} steps: {'; '.join(run.log)[:300]}", flush=True)
        except InvariantViolation as violation:
            broken += 1
            print(f"{path.name}: InvariantViolation: {violation}", flush=True)
    return 1 if broken else 0


def main(argv: list[str]) -> int:
    """Input files or folders: replay them; else libFuzzer's flags and corpus folders: fuzz (needs atheris)."""
    if argv[1:] and all(not a.startswith("-") and Path(a).exists() for a in argv[1:]):
        return replay([Path(a) for a in argv[1:]])
    if atheris is None:
        raise SystemExit("fuzzing needs atheris (hatch run chaos:fuzz); without it this replays input files")
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
