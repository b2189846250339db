"""The same-stack reference: a minimal grpc.aio relay (caller → relay → callee), bytes in and out.

No protobuf: every method carries raw bytes (``grpc.*_rpc_method_handler`` without
serializers). The relay never decodes a payload.

- ``Serve`` (stream-stream): a callee's connection. The callee's first message is its name;
  the relay then sends it ``id(8) | method(1) | pickled args`` frames and reads
  ``id(8) | pickled result`` replies. Id 0 is one-way (no reply).
- ``Call`` (unary): ``method(1) | pickled args``, routed round-robin to a callee.
- ``Broadcast`` (unary): the same to every callee; the answer is ``len(4) | name | len(4) | result``
  per callee.
- ``Stream`` (client-streaming): one-way items to one callee through a bounded queue, then
  ``count()`` on that callee, whose answer is the reply.
- ``Members`` (unary): the names of the connected callees, newline-separated.

Caller: a synchronous channel; W2 keeps 64 ``future()`` calls in flight from one thread.
Message limits are raised to 256 MiB on every side (gRPC's default receive limit is 4 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import pickle
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio

from bench import common

SERVICE = "relay.Relay"
MAX_MESSAGE = 256 * 1024 * 1024
OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
METHODS: tuple[str, ...] = tuple(f.__name__ for f in common.CALLBACKS)
METHOD_INDEX = {name: i for i, name in enumerate(METHODS)}
ID = struct.Struct("<Q")
LEN = struct.Struct("<I")


def _target(addr: common.Address) -> str:
    return f"unix:{addr.path}" if addr.is_unix else f"{addr.host}:{addr.port}"


# --- the relay ------------------------------------------------------------------------------


class Callee:
    def __init__(self, name: str) -> None:
        self.name = name
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)
        self.pending: dict[int, asyncio.Future[bytes]] = {}


class Relay:
    def __init__(self) -> None:
        self.callees: dict[str, Callee] = {}
        self.ids = itertools.count(1)
        self.turn = 0

    def pick(self) -> Callee:
        if not self.callees:
            raise RuntimeError("no callee connected")
        callees = list(self.callees.values())
        self.turn += 1
        return callees[self.turn % len(callees)]

    async def ask(self, callee: Callee, request: bytes) -> bytes:
        call_id = next(self.ids)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        callee.pending[call_id] = future
        await callee.outbox.put(ID.pack(call_id) + request)
        return await future

    async def serve(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> None:
        name = (await anext(requests)).decode()
        callee = Callee(name)
        self.callees[name] = callee

        async def write() -> None:
            while True:
                await context.write(await callee.outbox.get())

        writer = asyncio.create_task(write())
        try:
            async for reply in requests:
                (call_id,) = ID.unpack_from(reply)
                future = callee.pending.pop(call_id, None)
                if future is not None and not future.done():
                    future.set_result(reply[ID.size :])
        finally:
            writer.cancel()
            self.callees.pop(name, None)
            for future in callee.pending.values():
                if not future.done():
                    future.set_exception(RuntimeError(f"callee {name} went away"))

    async def call(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return await self.ask(self.pick(), request)

    async def broadcast(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        callees = list(self.callees.values())
        replies = await asyncio.gather(*(self.ask(c, request) for c in callees))
        parts: list[bytes] = []
        for callee, reply in zip(callees, replies, strict=True):
            name = callee.name.encode()
            parts += [LEN.pack(len(name)), name, LEN.pack(len(reply)), reply]
        return b"".join(parts)

    async def stream(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        callee = self.pick()
        one_way = ID.pack(0)
        async for item in requests:
            await callee.outbox.put(one_way + item)
        return await self.ask(callee, bytes([METHOD_INDEX["count"]]) + pickle.dumps(()))

    async def members(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return "\n".join(self.callees).encode()


async def run_server(addr: common.Address) -> None:
    relay = Relay()
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "Serve": grpc.stream_stream_rpc_method_handler(relay.serve),
        "Call": grpc.unary_unary_rpc_method_handler(relay.call),
        "Broadcast": grpc.unary_unary_rpc_method_handler(relay.broadcast),
        "Stream": grpc.stream_unary_rpc_method_handler(relay.stream),
        "Members": grpc.unary_unary_rpc_method_handler(relay.members),
    }
    server = grpc.aio.server(options=OPTIONS)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(_target(addr))
    await server.start()
    common.ready()
    await server.wait_for_termination()


# --- a callee -------------------------------------------------------------------------------


async def run_callee(addr: common.Address, name: str) -> None:
    functions = common.CALLBACKS
    async with grpc.aio.insecure_channel(_target(addr), options=OPTIONS) as channel:
        serve: Any = channel.stream_stream(f"/{SERVICE}/Serve")
        outbox: asyncio.Queue[bytes] = asyncio.Queue()
        await outbox.put(name.encode())

        async def outgoing() -> AsyncIterator[bytes]:
            while True:
                yield await outbox.get()

        async for frame in serve(outgoing()):
            view = memoryview(frame)
            (call_id,) = ID.unpack_from(view)
            function = functions[view[ID.size]]
            result = function(*pickle.loads(view[ID.size + 1 :]))
            if call_id:
                await outbox.put(ID.pack(call_id) + pickle.dumps(result, protocol=5))


async def callee_main(addr: common.Address, name: str) -> None:
    """READY shortly after dialing (the caller waits until the relay lists the callee's name)."""
    task = asyncio.create_task(run_callee(addr, name))
    await asyncio.sleep(0.05)
    common.ready()
    await task


# --- the caller -----------------------------------------------------------------------------


def _request(method: str, *args: Any) -> bytes:
    return bytes([METHOD_INDEX[method]]) + pickle.dumps(args, protocol=5)


class RelayAdapter(common.Adapter):
    inflight_mode = "futures"

    def __init__(self, args: argparse.Namespace) -> None:
        self.channel = grpc.insecure_channel(_target(args.addr), options=OPTIONS)
        self._call: Any = self.channel.unary_unary(f"/{SERVICE}/Call")
        self._broadcast: Any = self.channel.unary_unary(f"/{SERVICE}/Broadcast")
        self._stream: Any = self.channel.stream_unary(f"/{SERVICE}/Stream")
        self._members: Any = self.channel.unary_unary(f"/{SERVICE}/Members")

    def wait_callees(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                present = set(self._members(b"", timeout=5).decode().split("\n"))
            except grpc.RpcError:
                present = set()
            if present >= set(names):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"callees {sorted(set(names) - present)} did not connect")
            time.sleep(0.05)

    def add(self, a: int, b: int) -> int:
        return pickle.loads(self._call(_request("add", a, b)))

    def echo(self, data: bytes) -> bytes:
        return pickle.loads(self._call(_request("echo", data)))

    def stream(self, n: int) -> int:
        return pickle.loads(self._stream(_request("sink", i) for i in range(n)))

    def broadcast(self, x: int) -> dict[str, Any]:
        raw = memoryview(self._broadcast(_request("bump", x)))
        out: dict[str, Any] = {}
        pos = 0
        while pos < len(raw):
            (n,) = LEN.unpack_from(raw, pos)
            name = bytes(raw[pos + 4 : pos + 4 + n]).decode()
            pos += 4 + n
            (n,) = LEN.unpack_from(raw, pos)
            out[name] = pickle.loads(raw[pos + 4 : pos + 4 + n])
            pos += 4 + n
        return out

    def start_add(self, a: int, b: int) -> Callable[[], int]:
        future = self._call.future(_request("add", a, b))
        return lambda: int(pickle.loads(future.result()))

    def close(self) -> None:
        self.channel.close()


def server(args: argparse.Namespace) -> None:
    asyncio.run(run_server(args.addr))


def callee(args: argparse.Namespace) -> None:
    asyncio.run(callee_main(args.addr, args.name))


if __name__ == "__main__":
    sys.exit(common.main(RelayAdapter, callee, server))
