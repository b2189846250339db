"""The fuzz target of ``hatch run chaos:fuzz``: bytes → both transports' parsers → the controller's real handling.

One input is a script of what several nodes do to one in-process controller, decoded from the fuzzer's bytes
with ``atheris.FuzzedDataProvider``. The controller has both fronts on one ``Switchboard``, so a script mixes
gRPC and socket-transport nodes that call each other:

- gRPC nodes (``ControllerServicer``): they join (a valid Hello, or a bad, duplicate, silent or missing one),
  send batches (built frame by frame from the input, or the input's raw bytes as they are), end their stream,
  lose their connection, are cancelled the way gRPC cancels a handler, fail a write, stop reading (a slow
  node). Every message reaches the servicer as the bytes ``context.read()`` returns, as from gRPC (``Connect``
  has no deserializer). Only the stream object is faked (``read``/``write``/``abort``).
- socket-transport nodes and tools (``ServerConnection`` of ``SocketService``, see ``chaos/fuzz_socket.py``):
  greetings, Open frames (Connect, GetCatalog, Health, unknown; right, wrong or missing tokens), frames of
  every kind and length built from the input or its raw bytes, delivered in pieces cut anywhere, end of stream,
  connection loss, a connection whose writes back up. Only the asyncio transport is faked.

Switchboard, router, registry, framing, outbox, the socket framing's reader and server are the real code,
instrumented for coverage; the controller may be stopped (both fronts).

After each step of a script and at its end the target checks:

- no exception escapes the handler but the documented ones: ``context.abort`` (a status), the
  cancellation gRPC itself delivered, or a transport error injected while the stream was still
  waiting for its Hello; nothing is logged at ERROR (the servicer logs a reader that failed); no token
  appears in a log line;
- what socket connections got from the server (``chaos/fuzz_socket.py`` lists those checks);
- the registry holds exactly the streams and connections that were welcomed and are still open; callback offers and the
  router's tables agree with each other and name only connected nodes; open calls ≤ CALL frames sent;
  frames written ≤ a linear bound of frames read;
- what is written parses as a ``Batch`` within gRPC's limit, each message in it one a node sent (but for
  ``peer``) or one the controller makes; at the scale of fuzz inputs (``SMALL_BATCH``), a batch passes the
  outbox's limit only by its last frame;
- after every stream and connection ended: registry, callback offers, routing tables and socket sessions
  are empty, every handler returned and no task or timer is left on the loop;
- no payload is ever unpickled (``pickle`` loaders are replaced by a tripwire before the controller
  is imported, ``dill`` cannot be imported, and payloads include a pickle that trips when loaded).

A violation raises ``InvariantViolation``, which libFuzzer reports as a crash (and saves the input).
``python -m chaos.fuzz_target [libFuzzer flags] [corpus dirs]`` runs atheris directly (a saved crash input
as the only argument replays it); ``python -m chaos.fuzz_target --write-seeds`` rewrites chaos/fuzz_corpus/.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import logging
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import atheris  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from chaos.fuzz_socket import Conn

T = TypeVar("T")
SEEDS = Path(__file__).resolve().parent / "fuzz_corpus"
#: The token of a controller that has one (socket connections), and a wrong one of the same length: neither
#: may appear in what the controller logs or writes (unless the input itself spells it out).
TOKEN = "fuzz-token-5c2e9a71d04b36f8"
WRONG_TOKEN = "fuzz-token-WRONG-71d04b36f8"
SECRETS = (TOKEN, WRONG_TOKEN)


# ------------------------------------------------------------------------------ the unpickling tripwire


class Unpickled(BaseException):
    """Raised (and remembered) when anything in the process tries to unpickle."""


UNPICKLED: list[str] = []


def _tripwire(*args: object, **kwargs: object) -> Any:
    UNPICKLED.append("a payload was unpickled")
    raise Unpickled("the controller unpickled a payload")


if __name__ == "__main__":  # so that the pickle below finds this very module under its real name
    sys.modules.setdefault("chaos.fuzz_target", sys.modules[__name__])

#: A payload that calls ``_tripwire`` if anyone ever loads it (GLOBAL, EMPTY_TUPLE, REDUCE).
TRIPWIRE = b"\x80\x02cchaos.fuzz_target\n_tripwire\n)R."
_REAL_LOADS = pickle.loads


class _TrippingUnpickler:
    def __init__(self, *args: object, **kwargs: object) -> None:
        _tripwire()


class _NoDill(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "dill" or name.startswith("dill."):
            UNPICKLED.append(f"{name} was imported")
            raise ImportError("the controller must not import dill")
        return None


def _guard_unpickling() -> None:
    pickle.loads = _tripwire
    pickle.load = _tripwire
    pickle.Unpickler = _TrippingUnpickler  # type: ignore[assignment,misc]
    sys.meta_path.insert(0, _NoDill())


_guard_unpickling()

# The controller is imported after the tripwire is set, so even a ``from pickle import loads`` would trip.
if os.environ.get("DAFFI_FUZZ_PLAIN"):  # coverage replay (chaos.fuzz): real line numbers, no atheris hooks
    import daffi_core.outbox
    import grpc
    from daffi_controller.grpc_service import ControllerServicer
    from daffi_controller.registry import Peer
    from daffi_controller.socket_service import SocketService
    from daffi_controller.switchboard import Switchboard
    from daffi_core.proto import daffi_pb2 as pb
    from daffi_core.protocol import MAX_MESSAGE_BYTES, PROTOCOL_VERSION
    from daffi_core.transport.socket import server as socket_server
else:
    with atheris.instrument_imports(include=["daffi_controller", "daffi_core"]):
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
    """The fuzzer's choices: integers from the end of the input, byte strings from its front."""

    def __init__(self, data: bytes) -> None:
        self._fdp = atheris.FuzzedDataProvider(data)

    def left(self) -> int:
        return int(self._fdp.remaining_bytes())

    def number(self, lo: int, hi: int) -> int:
        return int(self._fdp.ConsumeIntInRange(lo, hi))

    def pick(self, options: Sequence[T]) -> T:
        return options[self.number(0, len(options) - 1)]

    def flag(self) -> bool:
        return self.number(0, 1) == 1

    def blob(self, most: int) -> bytes:
        return bytes(self._fdp.ConsumeBytes(self.number(0, most)))


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


class Node(Protocol):
    """A gRPC stream or a socket connection, as the checks of what the controller writes see it."""

    @property
    def name(self) -> str: ...

    welcomed: bool
    rejected: bool


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

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"  # where gRPC says a stream comes from

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

    async def abort(self, code: grpc.StatusCode, details: str = "", *args: object) -> None:
        self.aborted = (code, details)
        raise Aborted(f"{code.name}: {details}")

    def __aiter__(self) -> Stream:  # the request iterator, should the servicer ever read through it
        return self

    async def __anext__(self) -> object:
        batch = await self.read()
        if batch is grpc.aio.EOF:
            raise StopAsyncIteration
        return batch


class _ErrorLog(logging.Handler):
    """Remembers what is logged at ERROR, and any line that holds a token."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.levelno >= logging.ERROR:
            self.records.append(text)
        if any(secret in text for secret in SECRETS):
            self.leaks.append(text)


ERRORS = _ErrorLog()
logging.getLogger().addHandler(ERRORS)
# Every line the controller and its transports log is read for tokens (warnings are expected here: refusals,
# ignored frames); only ERROR is a failure. No handler prints them.
logging.getLogger("daffi").setLevel(logging.DEBUG)


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

    def nodes(self) -> list[Node]:
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

    def check_written(self, stream: Node, data: object) -> None:
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

    def _check_message(self, stream: Node, msg: pb.Message) -> None:
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
    sockets, sockets_may = sock.check(run)  # the names of the socket nodes welcomed and still connected
    servicer = run.servicer
    registry, router = servicer.registry, servicer.router
    running = [s for s in run.streams if s.task is not None and not s.task.done()]
    # A stalled (slow) node may be joined before its Welcome is written, and a handler whose node left
    # waits up to _WRITER_DRAIN for a writer stuck on such a node.
    must = {s.name for s in running if s.welcomed and s.stalled is None} | sockets
    may = {s.name for s in running if s.welcomed or s.stalled is not None} | sockets_may
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
        elif op == "eof":
            run.log.append(f"eof {stream.name!r}")
            stream.inbox.put_nowait(_EOF)
        elif op == "lost":
            run.log.append(f"lost {stream.name!r}")
            error = _lost()
            stream.injected.append(error)
            stream.inbox.put_nowait(error)
        elif op == "cancel":
            run.log.append(f"cancel {stream.name!r}")
            if stream.task is not None and not stream.task.done():
                stream.cancelled = True
                stream.task.cancel()
        elif op == "stall":
            run.log.append(f"stall {stream.name!r}")
            if stream.stalled is None:
                stream.stalled = asyncio.Event()
            else:
                stream.stalled.set()
                stream.stalled = None
        elif op == "write-fails":
            run.log.append(f"write-fails {stream.name!r}")
            error = _lost()  # a call whose write failed is over: its reads fail too
            stream.write_fails = error
            stream.injected.append(error)
            stream.inbox.put_nowait(error)
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


# ------------------------------------------------------------------------------ seeds


SeedT = TypeVar("SeedT", bound="Seed")


class Seed:
    """Writes the bytes that ``Draw`` decodes into the given choices (the seed corpus)."""

    def __init__(self) -> None:
        self._front = bytearray()
        self._back = bytearray()  # in the order Draw consumes it, from the end of the input
        self.streams = 0
        self.steps = 0

    def number(self: SeedT, value: int, lo: int, hi: int) -> SeedT:
        assert lo <= value <= hi
        span, offset = hi - lo, value - lo
        width = (span.bit_length() + 7) // 8
        self._back += offset.to_bytes(width, "big")
        return self

    def pick(self: SeedT, value: T, options: Sequence[T]) -> SeedT:
        self.steps += options is OPS
        return self.number(options.index(value), 0, len(options) - 1)

    def blob(self: SeedT, value: bytes, most: int) -> SeedT:
        self.number(len(value), 0, most)
        self._front += value
        return self

    def join(self: SeedT, name: str, callbacks: Sequence[str] = (), version: int = PROTOCOL_VERSION) -> SeedT:
        mask = sum(1 << CALLBACKS.index(c) for c in callbacks)
        self.pick("join", OPS).pick(name, JOIN_NAMES).pick(version, VERSIONS).number(mask, 0, 15).pick(
            "hello", HELLO_STYLES
        )
        self.streams += 1
        return self

    def join_as(self: SeedT, name: str, style: str) -> SeedT:
        """A join whose first message is not a plain Hello ("eof" or "silent")."""
        assert style in ("eof", "silent")
        self.pick("join", OPS).pick(name, JOIN_NAMES).pick(PROTOCOL_VERSION, VERSIONS).number(0, 0, 15).pick(
            style, HELLO_STYLES
        )
        self.streams += 1
        return self

    def _on(self: SeedT, op: str, stream: int) -> SeedT:
        return self.pick(op, OPS).number(stream, 0, self.streams - 1)

    def raw(self: SeedT, stream: int, *frames: pb.Frame | pb.Message) -> SeedT:
        batch = pb.Batch(frames=[f if isinstance(f, pb.Frame) else pb.Frame(message=f) for f in frames])
        return self.raw_bytes(stream, batch.SerializeToString())

    def raw_bytes(self: SeedT, stream: int, data: bytes) -> SeedT:
        return self._on("raw", stream).blob(data, RAW_MAX)

    def eof(self: SeedT, stream: int) -> SeedT:
        return self._on("eof", stream)

    def lost(self: SeedT, stream: int) -> SeedT:
        return self._on("lost", stream)

    def cancel(self: SeedT, stream: int) -> SeedT:
        return self._on("cancel", stream)

    def write_fails(self: SeedT, stream: int) -> SeedT:
        return self._on("write-fails", stream)

    def close(self: SeedT) -> SeedT:
        return self.pick("close", OPS)

    def stall(self: SeedT, stream: int) -> SeedT:
        return self._on("stall", stream)

    def data(self) -> bytes:
        return bytes(self._front) + bytes(reversed(self._back))


def _call(call_id: int, name: str = "add", **head: Any) -> pb.Message:
    return M(kind=M.CALL, call_id=call_id, payload=TRIPWIRE, encoding=pb.PICKLE, head=pb.CallHead(name=name, **head))


def _up(kind: M.Kind.ValueType, caller: str, call_id: int, **fields: Any) -> pb.Message:
    return M(kind=kind, call_id=call_id, peer=caller, **fields)


def framing_len(data: bytes) -> bytes:
    """The varint length prefix of ``data``."""
    n, out = len(data), bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def seeds() -> dict[str, Seed]:
    """Named scripts that reach the deep paths: the fuzzer mutates from here."""
    cb = pb.Frame(callbacks=pb.CallbackList(callbacks=_callbacks(0b0110)))
    s: dict[str, Seed] = {}
    # 0 = alpha (offers add, gen), 1 = beta (caller) in most seeds.
    s["call-reply"] = (
        Seed()
        .join("alpha", ["add", "gen"])
        .join("beta")
        .raw(1, _call(1))
        .raw(0, _up(M.REPLY, "beta", 1, payload=TRIPWIRE))
    )
    s["chunked-call-and-reply"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta")
        .raw(1, _call(1), M(kind=M.CALL, call_id=1, payload=b"p1", more=True, continuation=True))
        .raw(1, M(kind=M.CALL, call_id=1, payload=b"p2", continuation=True))
        .raw(
            0,
            _up(M.REPLY, "beta", 1, payload=b"r1", more=True),
            _up(M.REPLY, "beta", 1, payload=b"r2", continuation=True),
        )
    )
    s["stream-items-acks"] = (
        Seed()
        .join("alpha", ["add", "gen"])
        .join("beta")
        .raw(
            1,
            _call(2, "gen", action=pb.CallHead.STREAM),
            M(kind=M.ITEM, call_id=2, payload=b"i"),
            M(kind=M.END, call_id=2),
        )
        .raw(0, _up(M.ACK_ITEMS, "beta", 2, count=1), _up(M.YIELD, "beta", 2, payload=b"y"))
        .raw(1, M(kind=M.ACK_YIELDS, call_id=2, count=1), M(kind=M.CANCEL, call_id=2))
        .raw(0, _up(M.REPLY, "beta", 2))
    )
    s["fanout-all"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta")
        .join("gamma", ["add"])
        .join("delta", ["add"])
        .raw(1, _call(3, fanout=pb.CallHead.ALL))
        .raw(0, _up(M.REPLY, "beta", 3))
        .eof(2)
        .raw(3, _up(M.REPLY, "beta", 3))
    )
    s["pinned-system-unknown"] = (
        Seed()
        .join("alpha", ["add", "hang"])
        .join("beta", ["add"])
        .raw(
            1,
            _call(1, target="alpha"),
            _call(2, "nope", target="alpha"),
            _call(3, target="ghost"),
            _call(4, target="beta"),
            _call(5, "pid", target="alpha", action=pb.CallHead.SYSTEM),
            _call(6, "nope"),
            _call(1),
        )
    )
    s["callee-leaves-mid-call"] = Seed().join("alpha", ["hang"]).join("beta").raw(1, _call(1, "hang")).eof(0)
    s["caller-leaves-mid-call"] = Seed().join("alpha", ["hang"]).join("beta").raw(1, _call(1, "hang")).lost(1)
    s["round-robin-and-callbacks"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta", ["add"])
        .join("gamma")
        .raw(2, _call(1), _call(2), _call(3))
        .raw(0, cb)
        .raw(1, pb.Frame(callbacks=pb.CallbackList()))
        .raw(2, _call(4))
    )
    s["odd-frames"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta")
        .raw(
            1,
            pb.Frame(hello=pb.Hello(protocol_version=PROTOCOL_VERSION, process_name="beta")),
            pb.Frame(welcome=pb.Welcome()),
            pb.Frame(node_left=pb.NodeLeft(process_name="alpha")),
            pb.Frame(),
            M(kind=M.ACCEPTED, call_id=1),
            M(kind=99, call_id=1),  # type: ignore[arg-type]
            _up(M.REPLY, "ghost", 1),
            _up(M.YIELD, "beta", 7),
        )
    )
    s["refusals"] = (
        Seed()
        .join("alpha")
        .join("alpha")
        .join("", ["add"])
        .join("beta", version=0)
        .join_as("gamma", "eof")
        .join_as("delta", "silent")
        .raw_bytes(5, b"\x0a\x02\x3a\x00")
    )
    s["undecodable-after-hello"] = (
        Seed().join("alpha", ["add"]).join("beta").raw_bytes(1, b"\xff\xff\xff\xff").raw(1, _call(1))
    )
    s["undecodable-first"] = Seed().join_as("alpha", "silent").raw_bytes(0, b"\x0a\x05\x0a")
    s["cancel-write-fail-close"] = (
        Seed()
        .join("alpha", ["hang"])
        .join("beta")
        .join("gamma")
        .raw(1, _call(1, "hang"))
        .write_fails(0)
        .raw(2, _call(2, "hang"))
        .cancel(1)
        .close()
        .join("delta")
    )
    many = pb.CallbackList(callbacks=[pb.CallbackSignature(name=f"callback_number_{i:04}") for i in range(25)])
    s["unknown-callback-burst"] = (
        Seed()
        .join("alpha")
        .join("beta")
        .raw(0, pb.Frame(callbacks=many))
        .raw(1, *(M(kind=M.CALL, call_id=i, head=pb.CallHead(name="nope")) for i in range(1, 25)))
    )
    slow = Seed().join("alpha", ["add"]).join("beta").stall(0)
    for i in range(1, 7):  # over the (scaled) high-water mark of alpha's outbox: beta is no longer read
        slow.raw(1, _call(i), M(kind=M.CALL, call_id=i, payload=bytes(400), continuation=True))
    s["slow-receiver"] = slow.eof(1).stall(0).raw(0, _up(M.REPLY, "beta", 1))
    # Batches that framing.message_views does not lay out (the router re-serializes what protobuf parsed):
    # an unknown top-level field, and a frame whose message field comes twice (protobuf merges the two).
    call = pb.Frame(message=_call(1)).SerializeToString()
    twice = (
        pb.Frame(message=M(kind=M.CALL, call_id=2, payload=b"a")).SerializeToString()
        + pb.Frame(message=M(head=pb.CallHead(name="add"), payload=b"b")).SerializeToString()
    )
    s["not-laid-out-as-frames"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta")
        .raw_bytes(1, b"\x0a" + framing_len(call) + call + b"\x10\x01")
        .raw_bytes(1, b"\x12\x00" + b"\x0a" + framing_len(twice) + twice)
        .raw(0, _up(M.REPLY, "beta", 1), _up(M.REPLY, "beta", 2))
    )
    # alpha's writer is stuck when the controller stops, so its handler drains for up to 2 s: what alpha
    # sends meanwhile must not be dispatched (it re-registered its callbacks and opened routes once).
    s["frames-after-leaving"] = (
        Seed()
        .join("alpha", ["add"])
        .join("beta")
        .stall(0)
        .join("gamma")
        .close()
        .raw(0, pb.Frame(callbacks=pb.CallbackList(callbacks=_callbacks(0b0001))))
        .raw(0, _call(1, "add"))
    )
    s.update(sock.seeds())
    return s


def write_seeds(directory: Path = SEEDS) -> None:
    try:
        _REAL_LOADS(TRIPWIRE)
        raise AssertionError("the tripwire payload did not trip")
    except Unpickled:
        UNPICKLED.clear()
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    for name, seed in seeds().items():
        data = seed.data()
        (directory / name).write_bytes(data)
        run = play(data)  # each seed must pass and decode to its script
        assert len(run.log) == seed.steps, f"{name} decodes to {run.log}"
        print(f"{name}: {len(data)} bytes, {len(run.log)} steps: {'; '.join(run.log)[:200]}")


# The socket half of the target uses the grammar, Run and Seed above (and is imported after the controller).
from chaos import fuzz_socket as sock  # noqa: E402


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--write-seeds"]:
        write_seeds()
        return
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
