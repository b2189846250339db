"""The NATS link: a node on a NATS server or cluster, doing the controller's work for itself.

To the layers above it is a connection to a controller like the others: it takes the node's
outgoing frames and delivers ``Welcome``, ``NodeInfo`` (node joined), ``NodeLeft`` and call
traffic in the same protobuf messages. No controller runs, so the link does its job locally:

- **catalogue**: it announces the node (``Hello``) on ``daffi.catalog``; every other node adds
  it and answers with its own ``NodeInfo`` on the newcomer's direct subject. The answers that
  arrive while the newcomer gathers them (``GATHER_QUIET`` after the last one) make its
  ``Welcome``; later ones are ``node_joined`` frames. Changed callbacks go out as ``NodeInfo``, a
  clean stop as ``NodeLeft``.
- **routing**: a CALL goes to one node offering the name (round-robin, never this node) or to
  every one (fanout ALL, answered locally with ACCEPTED), or to the pinned target; the frames
  that follow go where the call went; upstream frames go to the caller their ``peer`` names.
  Every message leaves with ``peer`` set to this node, which is what the controller would
  have written, so the receiving side delivers it untouched.
- **failures**: each node publishes a heartbeat every ``HEARTBEAT`` seconds; a node silent for
  ``PEER_TIMEOUT`` (or gone with ``NodeLeft``) fails the calls it owed here with REMOTE_STOPPED
  and has the calls it made here cancelled. Losing the NATS server ends the session like losing
  a controller: every open call fails; nats-py reconnects and the node announces itself again.

Everything runs on the node's loop, as the gRPC link does; ``wait`` just waits for the future.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from daffi_core import framing, routing
from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import DOWNSTREAM, PROTOCOL_VERSION, UPSTREAM
from daffi_core.transport import NATS, mismatch
from daffi_core.transport.nats import chunks, subjects
from daffi_core.transport.nats.client import import_nats, is_refusal, security_options
from daffi_core.transport.sniff import speaker

from daffi.__about__ import __version__
from daffi._link import LoopLink
from daffi._nats_peers import Calls, Directory

__all__ = ["NatsLink"]

log = logging.getLogger("daffi.node")
#: Seconds the duplicate-name probe waits for a node of the same name to object.
PROBE_TIMEOUT = 0.5
#: Batches larger than this are forwarded as views of their bytes (see ``NatsLink._send_on_loop``).
VIEWS_FROM = 16 * 1024
#: Seconds a stopping node gives its last frames and its NodeLeft to reach the server.
FLUSH_TIMEOUT = 1.0


class NatsLink(LoopLink):
    """A ``Link`` over NATS (see the module docstring)."""

    transport = NATS
    server_kind = server_name = "NATS server"
    _nc: Any = None
    _beats: asyncio.Task[None] | None = None
    _rejoin: asyncio.Task[None] | None = None
    _probed = False

    def _prepare(self) -> None:
        self._nats = import_nats()  # before anything starts: a missing extra fails at once
        self.url = subjects.server_url(self.address)
        self.directory = Directory()
        self.calls = Calls()
        self._direct = subjects.direct(self.process_name)
        self._welcomed = False
        #: Frames that came before the Welcome: delivered right after it (the Welcome comes first).
        self._early: list[pb.Frame] = []
        self._last_answer = 0.0
        self._asked: dict[str, float] = {}
        self._outgoing: asyncio.Queue[tuple[str, bytes, str]] | None = None

    async def _stop(self) -> None:
        self.stopping = True
        nc = self._nc
        if nc is not None and nc.is_connected:
            left = pb.Frame(node_left=pb.NodeLeft(process_name=self.process_name, reason="stopped"))
            await self._drain_outgoing()
            with contextlib.suppress(Exception):
                await self._publish_now(subjects.CATALOG, _batch(left))
                await nc.flush(FLUSH_TIMEOUT)
        for task in (self._beats, self._rejoin, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()
        self.session_ended()

    async def _run(self) -> None:
        """Connect (retrying until ``stop``; the first failure is reported by ``wait_first``), then serve."""
        nats = self._nats
        while not self.stopping:
            nc = nats.NATS()
            try:
                await nc.connect(
                    servers=[self.url],
                    name=self.process_name,
                    no_echo=True,  # a node never hears its own publications
                    connect_timeout=2,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    # keepalive as on the other transports: a silent cut is noticed within ~1.5x keepalive
                    ping_interval=max(1, round(self.keepalive / 2)),
                    max_outstanding_pings=2,
                    **security_options(self.address, self.security),
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            except Exception as exc:
                log.debug("no NATS server at %s yet: %r", self.url, exc)
                await asyncio.sleep(0.2)
                continue
            self._nc = nc
            break
        else:
            return
        if not await self._name_is_free():
            self.give_up(
                f"a node named {self.process_name!r} is already on the NATS server at {self.address}: "
                "give each process a unique process_name"
            )
            await nc.close()
            return
        self._outgoing = asyncio.Queue()
        await nc.subscribe(self._direct, cb=self._reader(self._on_direct))
        await nc.subscribe(subjects.CATALOG, cb=self._reader(self._on_catalog))
        await nc.subscribe(subjects.BEATS, cb=self._on_beat)
        self._beats = asyncio.get_running_loop().create_task(self._heartbeat())
        await self._session()
        await self._write()

    async def _other_transport(self) -> None:
        """Once, on the first failed connect: a daffi controller there fails it at once, naming both transports."""
        if self.started or self._probed:
            return
        self._probed = True
        loop = asyncio.get_running_loop()
        theirs = await loop.run_in_executor(None, speaker, self.address, self.security, 1.0)
        if theirs is not None and theirs != NATS:
            self.give_up(mismatch(self.address, NATS, theirs))

    async def _name_is_free(self) -> bool:
        """Ask the direct subject of this node's name: a node already reading it answers with Reject."""
        try:
            answer = await self._nc.request(self._direct, _payload(self._hello(), self.process_name), PROBE_TIMEOUT)
        except Exception:  # no responders (or no answer in time): nobody has the name
            return True
        data = chunks.Joiner().feed(answer.data)
        frames = pb.Batch.FromString(data).frames if data else []
        return not any(f.HasField("reject") for f in frames)

    async def _session(self) -> None:
        """Announce this node, gather the answers, then report the session (the Welcome)."""
        self._welcomed = False
        # a session starts from nothing: what a lost one (even one lost while gathering) knew is stale
        self.directory = Directory()
        self.calls.clear()
        self._early = []
        self._last_answer = time.monotonic()
        await self._publish_now(subjects.CATALOG, _batch(self._hello()))
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if now - self._last_answer >= subjects.GATHER_QUIET or now - start >= subjects.GATHER_MAX:
                break
            await asyncio.sleep(subjects.GATHER_QUIET / 3)
        welcome = pb.Welcome(
            protocol_version=PROTOCOL_VERSION, controller_version=f"nats {__version__}", nodes=self.directory.infos()
        )
        self._welcomed = True
        self.welcomed(pb.Batch(frames=[pb.Frame(welcome=welcome)]))
        early, self._early = self._early, []
        for frame in early:
            self.handlers.frame(frame)

    async def _on_disconnected(self) -> None:
        if self._welcomed:
            self._welcomed = False
            self._end_session()

    async def _on_reconnected(self) -> None:
        log.info("node %r reconnected to the NATS server at %s", self.process_name, self.url)
        if not self.stopping:  # gathered in a task: nats-py waits for this callback before it resumes
            if self._rejoin is not None:
                self._rejoin.cancel()  # lost again while gathering: that session never began
            self._rejoin = asyncio.get_running_loop().create_task(self._session())

    async def _on_error(self, exc: Exception) -> None:
        """nats-py's report of a failed (re)connect or a protocol error."""
        log.debug("NATS client error: %r", exc)
        refused = is_refusal(exc)
        # retrying cannot help: the first connect fails now, not after connect_timeout
        if refused and not self.give_up(
            f"the NATS server at {self.address} refused this node: {exc} (check the token)"
        ):
            log.error("the NATS server at %s refused this node on reconnect: %s", self.address, exc)
        if not refused:
            await self._other_transport()

    def _end_session(self) -> None:
        self.directory = Directory()
        self.calls.clear()
        self.session_ended()

    # -- outgoing
    def _hello(self) -> pb.Frame:
        return self.hello_frame()

    def _info(self) -> pb.Frame:
        hello = self.handlers.hello()
        return pb.Frame(node_joined=pb.NodeInfo(process_name=self.process_name, callbacks=hello.callbacks))

    def _send_on_loop(self, frames: Sequence[Encoded]) -> None:
        """The node's outgoing frames, on the loop: where each goes, as the controller would decide."""
        if not self._welcomed:
            return  # dropped when not connected, as the Link protocol says
        by_node: dict[str, list[Encoded]] = {}
        raw = framing.batch(frames)
        parsed = pb.Batch.FromString(raw).frames
        # Big batches: each message goes on as a view of its bytes with ``peer`` appended (as the
        # controller forwards), sparing a copy of its payload; small ones are re-encoded by protobuf.
        views = framing.message_views(raw) if len(raw) > VIEWS_FROM else None
        if views is None or len(views) != len(parsed):
            views = [None] * len(parsed)
        for frame, view in zip(parsed, views, strict=True):
            body = frame.WhichOneof("body")
            if body == "callbacks":
                self._publish(subjects.CATALOG, _batch(self._info()))
            elif body == "message":
                names = self._destinations(frame.message)
                if not names:
                    continue
                # encoded once, whatever the fanout (``peer`` is this node for every receiver)
                encoded = (
                    framing.forward(view, self.process_name) if view is not None else framing.reencoded(frame.message)
                )
                for name in names:
                    by_node.setdefault(name, []).append(encoded)
        for name, queued in by_node.items():
            self._publish(subjects.direct(name), framing.batch(queued))

    def _destinations(self, msg: pb.Message) -> list[str]:
        """Where ``msg`` goes (with ``peer`` set to this node); answers the node locally where needed."""
        kind = msg.kind
        targets: list[str]
        if kind == pb.Message.CALL and not msg.continuation:
            found = self._open(msg)
            if found is None:
                return []
            targets = found
        elif kind in DOWNSTREAM:
            targets = sorted(self.calls.targets(msg.call_id))
        elif kind in UPSTREAM:
            if kind == pb.Message.REPLY and not msg.more:
                self.calls.served_done(msg.peer, msg.call_id)
            targets = [msg.peer] if msg.peer in self.directory.nodes else []
        else:
            return []
        msg.peer = self.process_name
        return targets

    def _open(self, msg: pb.Message) -> list[str] | None:
        head = msg.head
        if msg.call_id in self.calls.made:
            self._fail(msg.call_id, pb.Error.INTERNAL, f"call id {msg.call_id} is already open")
            return None
        found = routing.targets(self.directory, head, self.process_name, self._own_callbacks)
        if isinstance(found, routing.Refused):
            self._fail(msg.call_id, found.kind, found.message)
            return None
        targets = [known.name for known in found]
        if head.fanout == pb.CallHead.ALL:
            self._deliver(pb.Frame(message=pb.Message(kind=pb.Message.ACCEPTED, call_id=msg.call_id, targets=targets)))
        self.calls.opened(msg.call_id, targets)
        return targets

    def _own_callbacks(self) -> set[str]:
        return {c.name for c in self.handlers.hello().callbacks}

    def _fail(self, call_id: int, kind: pb.Error.Kind.ValueType, message: str) -> None:
        error = pb.Error(kind=kind, type_name="GlobalContextError", message=message)
        self._deliver(pb.Frame(message=pb.Message(kind=pb.Message.REPLY, call_id=call_id, error=error)))

    def _deliver(self, frame: pb.Frame) -> None:
        """A frame for this node (posted: the caller's send has returned before its answer arrives)."""
        self.runtime.post(self.handlers.frame, frame)

    def _publish(self, subject: str, batch: bytes, reply: str = "") -> None:
        """Queue ``batch`` for ``subject`` (in pieces when it exceeds the server's max_payload)."""
        queue = self._outgoing
        if queue is None:
            return
        for data in chunks.split(batch, self.process_name, self._max_payload):
            queue.put_nowait((subject, data, reply))

    async def _publish_now(self, subject: str, batch: bytes, reply: str = "") -> None:
        for data in chunks.split(batch, self.process_name, self._max_payload):
            await self._nc.publish(subject, data, reply=reply)

    @property
    def _max_payload(self) -> int:
        return int(self._nc.max_payload) if self._nc is not None else 1024 * 1024

    async def _write(self) -> None:
        """Publish what ``_publish`` queued, in order (one writer: NATS keeps its order to each subscriber)."""
        queue = self._outgoing
        assert queue is not None
        while True:
            subject, data, reply = await queue.get()
            try:
                await self._nc.publish(subject, data, reply=reply)
            except Exception as exc:  # disconnected with a full reconnect buffer: the session fails anyway
                log.debug("could not publish to %s: %r", subject, exc)
            finally:
                queue.task_done()

    async def _drain_outgoing(self) -> None:
        if self._outgoing is not None and self._task is not None and not self._task.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outgoing.join(), FLUSH_TIMEOUT)

    # -- incoming
    @staticmethod
    def _reader(handle: Any) -> Any:
        """A subscription callback that joins pieces and hands each whole batch to ``handle``."""
        joiner = chunks.Joiner()

        async def on_message(msg: Any) -> None:
            try:
                data = joiner.feed(msg.data)
                if data is None:
                    return
                batch = pb.Batch.FromString(data)
            except Exception as exc:
                log.warning("dropped a message on %s that is not daffi's: %r", msg.subject, exc)
                return
            handle(batch.frames, msg.reply)

        return on_message

    def _on_direct(self, frames: Sequence[pb.Frame], reply: str) -> None:
        for frame in frames:
            body = frame.WhichOneof("body")
            if body == "message":
                self._incoming(frame)
            elif body == "hello":
                self._hello_from(frame.hello, reply)
            elif body == "node_joined":
                self._last_answer = time.monotonic()
                self._joined(frame.node_joined)

    def _on_catalog(self, frames: Sequence[pb.Frame], reply: str) -> None:
        if not frames and reply:  # a tool's catalogue request (daffi-codegen): who is there, with what
            self._publish(reply, _batch(self._info()))
            return
        for frame in frames:
            body = frame.WhichOneof("body")
            if body == "hello":
                self._hello_from(frame.hello, reply, rejoined=True)
            elif body == "node_joined":
                self._joined(frame.node_joined)
            elif body == "node_left":
                self._drop(frame.node_left.process_name, frame.node_left.reason or "stopped")

    def _incoming(self, frame: pb.Frame) -> None:
        msg = frame.message
        sender = msg.peer
        if not self.directory.seen(sender):
            self._ask(sender)
        kind = msg.kind
        if kind == pb.Message.CALL and not msg.continuation:
            self.calls.serving(sender, msg.call_id)
        elif kind == pb.Message.REPLY and not msg.more:
            self.calls.replied(msg.call_id, sender)
        self._hand_up(frame)

    def _hand_up(self, frame: pb.Frame) -> None:
        if self._welcomed:
            self.handlers.frame(frame)
        else:
            self._early.append(frame)

    def _hello_from(self, hello: pb.Hello, reply: str, rejoined: bool = False) -> None:
        """A node announced itself (``rejoined``: on the catalogue, a session of its own began) or asks
        who this one is: note it, and answer with this node's info."""
        name = hello.process_name
        if name == self.process_name:  # the duplicate-name probe of a newcomer (a request: it has a reply)
            if reply:
                reject = pb.Reject(reason=pb.Reject.DUPLICATE_NAME, message=f"{name!r} is taken")
                self._publish(reply, _batch(pb.Frame(reject=reject)))
            return
        if hello.protocol_version != PROTOCOL_VERSION:
            log.warning(
                "node %r speaks daffi protocol %d, this node %d: ignored (install the same daffi version everywhere)",
                name,
                hello.protocol_version,
                PROTOCOL_VERSION,
            )
            return
        if rejoined and name in self.directory.nodes:
            # A new session of a node this one knows (it lost its server and came back, maybe through
            # another server of the cluster): what its old session owed is lost, as when a node
            # reconnects to a controller.
            self._drop(name, "reconnected")
        self._joined(pb.NodeInfo(process_name=name, callbacks=hello.callbacks))
        self._publish(reply or subjects.direct(name), _batch(self._info()))

    def _joined(self, info: pb.NodeInfo) -> None:
        if info.process_name == self.process_name:
            return
        self.directory.update(info.process_name, info.callbacks)
        self._asked.pop(info.process_name, None)
        if self._welcomed:
            self.handlers.frame(pb.Frame(node_joined=info))

    def _drop(self, name: str, reason: str) -> None:
        """``name`` is gone: fail what it owed this node, cancel what it asked of it, tell the node."""
        if not self.directory.forget(name):
            return
        owed, served = self.calls.gone(name)
        error = pb.Error(kind=pb.Error.REMOTE_STOPPED, message=f"Remote process {name!r} stopped unexpectedly.")
        for call_id in owed:
            self._hand_up(pb.Frame(message=pb.Message(kind=pb.Message.REPLY, call_id=call_id, peer=name, error=error)))
        for call_id in served:
            self._hand_up(pb.Frame(message=pb.Message(kind=pb.Message.CANCEL, call_id=call_id, peer=name)))
        if self._welcomed:
            self.handlers.frame(pb.Frame(node_left=pb.NodeLeft(process_name=name, reason=reason)))
        log.info("node %r left: %s", name, reason)

    def _ask(self, name: str) -> None:
        """A node this one does not know spoke: ask it who it is (once per ``PEER_TIMEOUT``)."""
        now = time.monotonic()
        if not name or now - self._asked.get(name, -subjects.PEER_TIMEOUT) < subjects.PEER_TIMEOUT:
            return
        self._asked[name] = now
        self._publish(subjects.direct(name), _batch(self._hello()))

    # -- heartbeats
    async def _on_beat(self, msg: Any) -> None:
        name = subjects.beat_sender(msg.subject)
        if name != self.process_name and not self.directory.seen(name) and self._welcomed:
            self._ask(name)

    async def _heartbeat(self) -> None:
        beat = subjects.beat(self.process_name)
        while True:
            await asyncio.sleep(subjects.HEARTBEAT)
            if not self._nc.is_connected:
                continue
            self._publish(beat, b"")
            for name in self.directory.silent(subjects.PEER_TIMEOUT):
                self._drop(name, f"no heartbeat for {subjects.PEER_TIMEOUT:g} s")


def _batch(frame: pb.Frame) -> bytes:
    return framing.batch([framing.frame(frame)])


def _payload(frame: pb.Frame, sender: str) -> bytes:
    """``frame`` as one message of a direct subject (small: never split)."""
    return chunks.split(_batch(frame), sender, 1 << 30)[0]
