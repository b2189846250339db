"""A node whose ``scale`` callback changes between versions, and a gate for open calls.

Run: python contract_service.py --name NAME (address options) --version {v1,breaking,compatible}

- ``v1``: ``scale(x: int, factor: int = 2) -> int``
- ``breaking``: ``scale(x: str, factor: int = 2) -> int`` (a parameter's type changed)
- ``compatible``: ``scale(x: int, factor: int = 3, offset: int = 0) -> int`` (an optional
  parameter added, a default changed)

Every run of ``scale`` prints ``RAN scale``. ``gate(i)`` waits until the process gets SIGUSR1,
then returns ``i``; ``big(n)`` returns ``n`` bytes.
"""

from __future__ import annotations

import asyncio
import signal
import threading

from daffi import callback
from node_main import options, serve

parser = options(__doc__)
parser.add_argument("--version", choices=["v1", "breaking", "compatible"], default="v1")
args = parser.parse_args()
OPEN = threading.Event()
GATE: dict[str, object] = {}  # the loop the gate waits on, and its asyncio.Event


def _open(signum: int, frame: object) -> None:
    OPEN.set()  # first: a gate created after this reads it
    loop, event = GATE.get("loop"), GATE.get("event")
    if isinstance(loop, asyncio.AbstractEventLoop) and isinstance(event, asyncio.Event):
        loop.call_soon_threadsafe(event.set)


signal.signal(signal.SIGUSR1, _open)

if args.version == "v1":

    @callback
    def scale(x: int, factor: int = 2) -> int:
        print("RAN scale", flush=True)
        return x * factor

elif args.version == "breaking":

    @callback
    def scale(x: str, factor: int = 2) -> int:  # type: ignore[misc]
        print("RAN scale", flush=True)
        return len(x) * factor

else:

    @callback
    def scale(x: int, factor: int = 3, offset: int = 0) -> int:
        print("RAN scale", flush=True)
        return x * factor + offset


@callback
async def gate(i: int) -> int:
    if "event" not in GATE:
        GATE["event"], GATE["loop"] = asyncio.Event(), asyncio.get_running_loop()
    event = GATE["event"]
    assert isinstance(event, asyncio.Event)
    if not OPEN.is_set():
        await event.wait()
    return i


@callback
def big(n: int) -> bytes:
    return b"x" * n


serve(args)
