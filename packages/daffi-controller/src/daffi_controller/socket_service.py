"""The socket-transport front of the controller: sessions for Connect, GetCatalog, Inspect and Health.

A node's batches arrive as DATA frames in ``ServerConnection.buffer_updated`` and go straight to
the switchboard; frames for a node collect in its ``SocketSink`` and leave once the read that
made them is handled (``Flusher``), as few DATA frames as their size allows. A sender whose
batch fed a receiver that is behind is not read (``pause_reading``) until that receiver has drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from daffi_core.framing import Encoded
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.protocol import CATALOG_METHOD, CONNECT_METHOD, HEALTH_METHOD, INSPECT_METHOD, QUEUE_HIGH_BYTES
from daffi_core.transport import Code
from daffi_core.transport.socket.server import ServerConnection, Session, bind, serve
from daffi_core.transport.socket.wire import Body, data_frames
from google.protobuf.message import DecodeError

from daffi_controller.config import ServerConfig
from daffi_controller.registry import Peer
from daffi_controller.switchboard import Refusal, Switchboard, no_hello

__all__ = ["Flusher", "NodeSession", "SocketFront", "SocketService", "SocketSink"]

log = logging.getLogger("daffi.controller")


class Flusher:
    """Writes what the frames of one read produced, once that read is handled (or once per loop turn
    for frames that come from elsewhere: a node leaving, the gRPC front)."""

    def __init__(self) -> None:
        self.dirty: list[SocketSink] = []
        #: Inside a read: the connection calls ``read_done`` after it, no loop callback is needed.
        self.in_read = False
        self._scheduled = False

    def mark(self, sink: SocketSink) -> None:
        self.dirty.append(sink)
        if not self.in_read and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.in_read = self._scheduled = False
        dirty, self.dirty = self.dirty, []
        for sink in dirty:
            sink.flush()


class SocketSink:
    """A node's outgoing frames on a socket-transport connection, written together (see ``Flusher``)."""

    def __init__(self, conn: ServerConnection, flusher: Flusher) -> None:
        self._conn = conn
        self._flusher = flusher
        self._frames: list[Encoded] = []
        self._queued = 0
        self._marked = False
        self._closed = False

    def put(self, frame: Encoded) -> None:
        if self._closed:
            return
        self._frames.append(frame)
        self._queued += frame.size
        if not self._marked:
            self._marked = True
            self._flusher.mark(self)

    def flush(self) -> None:
        self._marked = False
        frames, self._frames, self._queued = self._frames, [], 0
        if frames:
            self._conn.send(data_frames(frames))

    @property
    def congested(self) -> bool:
        return self._queued > QUEUE_HIGH_BYTES or self._conn.congested

    async def drained(self) -> None:
        await self._conn.drained()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True


class NodeSession:
    """A node's ``Connect`` over the socket transport: its Hello, then its batches."""

    def __init__(
        self,
        board: Switchboard,
        conn: ServerConnection,
        hello_timeout: float,
        sessions: set[NodeSession],
        flusher: Flusher,
    ) -> None:
        self._board = board
        self._flusher = flusher
        self._sessions = sessions
        sessions.add(self)
        self._conn = conn
        self._peer: Peer | None = None
        self._done = False
        self._resuming: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(hello_timeout, self._no_hello, hello_timeout)

    def received(self, body: Body) -> None:
        self._flusher.in_read = True  # what this produces is written in read_done, after the read
        peer = self._peer
        if peer is None:
            self._hello(body)
            return
        try:
            behind = self._board.receive(peer, body)
        except DecodeError as exc:
            log.warning("node %r sent a message that is not a daffi Batch (%s)", peer.name, exc)
            self._end("sent a message that is not a daffi Batch")
            self._conn.close(Code.INVALID_ARGUMENT, f"not a daffi Batch message: {exc}")
            return
        if behind and self._resuming is None:
            self._conn.pause_reading()
            self._resuming = asyncio.get_running_loop().create_task(self._resume_after(behind))

    async def _resume_after(self, behind: list[Peer]) -> None:
        try:
            for receiver in behind:
                await receiver.sink.drained()
        finally:
            self._resuming = None
            self._conn.resume_reading()

    def _hello(self, body: Body) -> None:
        if self._done:
            return
        self._timer.cancel()
        answer = self._board.hello(bytes(body))
        if isinstance(answer, Refusal):
            self._refuse(answer)
            return
        where = self._conn.peer if ":" in self._conn.peer else "unix"
        peer = Peer(answer.process_name, SocketSink(self._conn, self._flusher), address=where)
        self._peer = peer
        self._board.join(peer, answer)

    def _no_hello(self, timeout: float) -> None:
        if self._peer is None and not self._done:
            self._refuse(self._board.refused(no_hello(timeout)))

    def _refuse(self, refusal: Refusal) -> None:
        self._done = True
        self._conn.send_data([refusal.batch()])
        self._conn.close(Code.OK, refusal.message)

    def lost(self, reason: str) -> None:
        self._sessions.discard(self)
        self._timer.cancel()
        self._end(reason)

    def _end(self, reason: str) -> None:
        self._done = True
        peer, self._peer = self._peer, None
        if self._resuming is not None:
            self._resuming.cancel()
        if peer is not None:
            self._board.leave(peer, reason)
            peer.sink.close()

    def stop(self) -> None:
        """The controller is stopping: end the node's connection."""
        self._end("controller stopping")
        self._conn.close(Code.UNAVAILABLE, "the controller is stopping")


class _Answered:
    """A request-response method: the answer was sent at open; what else arrives is ignored."""

    def received(self, body: Body) -> None:
        pass

    def lost(self, reason: str) -> None:
        pass


class SocketService:
    """The ``Service`` of a socket-transport controller."""

    def __init__(self, board: Switchboard, hello_timeout: float = 10.0) -> None:
        self.board = board
        self.hello_timeout = hello_timeout
        self._sessions: set[NodeSession] = set()
        self._flusher = Flusher()

    def open(self, conn: ServerConnection, method: str) -> Session | None:
        if method == CONNECT_METHOD:
            return NodeSession(self.board, conn, self.hello_timeout, self._sessions, self._flusher)
        if method == CATALOG_METHOD:
            return self._answer(conn, self.board.catalog())
        if method == HEALTH_METHOD:
            return self._answer(conn, self.board.health())
        if method == INSPECT_METHOD:
            return self._answer(conn, self.board.inspection())
        return None

    def read_done(self) -> None:
        if self._flusher.in_read:
            self._flusher.flush()

    @staticmethod
    def _answer(conn: ServerConnection, message: pb.Catalog | pb.Health | pb.Inspection) -> Session:
        conn.send_data([message.SerializeToString()])
        conn.close(Code.OK)
        return _Answered()

    def close(self) -> None:
        """End every node's connection (the controller is stopping)."""
        for session in list(self._sessions):
            session.stop()
        self._sessions.clear()


class SocketFront:
    """The socket-transport server of a controller."""

    def __init__(self, config: ServerConfig, board: Switchboard) -> None:
        self._config = config
        self.service = SocketService(board, config.hello_timeout)
        self._servers: list[asyncio.AbstractServer] = []

    async def start(self) -> int | None:
        owner = self._config
        socks = bind(owner.address)
        context = owner.tls.ssl_context() if owner.tls is not None else None

        def connection() -> ServerConnection:
            return ServerConnection(
                self.service, owner.token, owner.keepalive, owner.hello_timeout, logging.getLogger("daffi.controller")
            )

        try:
            self._servers = await serve(socks, connection, context, owner.hello_timeout)
        except BaseException:
            for sock in socks:
                sock.close()
            raise
        return None if owner.address.unix_path is not None else int(socks[0].getsockname()[1])

    async def stop(self, grace: float) -> None:
        for server in self._servers:
            server.close()
        self.service.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in self._servers)), grace)
