"""A short-lived node: connects, calls ``add_numbers`` (of operability_service.py), exits.

Tests read its stderr for noise at exit.

Run: python short_lived.py --name NAME (--host H --port P | --unix-sock-path S) [--transport T]
--mode (no-stop | stop | asyncio | asyncio-stop)
"""

from __future__ import annotations

import asyncio

from daffi import BG, FG, Global, fetcher
from node_main import options

parser = options(__doc__)
parser.add_argument("--mode", required=True, choices=["no-stop", "stop", "asyncio", "asyncio-stop"])
args = parser.parse_args()
where = {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}


@fetcher(FG)
async def add_numbers(a: int, b: int) -> int:
    return 0  # never run: the remote callback answers


def sync_main() -> None:
    g = Global(process_name=args.name, transport=args.transport, **where)
    g.wait_function("add_numbers", timeout=10)
    assert g.call.add_numbers(1, 2) & FG == 3
    pending = g.call.add_numbers(3, 4) & BG
    assert pending.get(10) == 7
    if args.mode == "stop":
        g.stop()


async def async_main() -> None:
    g = Global(process_name=args.name, transport=args.transport, **where)
    await g.wait_function_async("add_numbers", timeout=10)
    assert await add_numbers(1, 2) == 3
    if args.mode == "asyncio-stop":
        g.stop()


if args.mode.startswith("asyncio"):
    asyncio.run(async_main())
else:
    sync_main()
print(f"DONE {args.name}", flush=True)
