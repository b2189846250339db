"""Small programs written as daffi 1.x users write them, one per ``--mode``.

- ``join-in-asyncio``: ``g.join()`` called inside ``asyncio.run(...)``; prints ``READY``, then
  ``STOPPED`` once a signal stopped it.
- ``join-async``: ``await g.join_async()`` inside ``asyncio.run(...)``; the same lines.
- ``main-returns``: starts ``Global(init_controller=True)`` and returns from main without ``join``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging

from daffi import Global

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--mode", required=True, choices=["join-in-asyncio", "join-async", "main-returns"])
parser.add_argument("--unix-sock-path", required=True)
args = parser.parse_args()


async def join_in_asyncio() -> None:
    g = Global(process_name="v1-joiner", init_controller=True, unix_sock_path=args.unix_sock_path)
    print("READY", flush=True)  # the test then waits for join()'s "is serving" log line
    g.join()  # blocks the event loop: what 1.x code does
    print("STOPPED", flush=True)


async def join_async() -> None:
    g = Global(process_name="v1-joiner", init_controller=True, unix_sock_path=args.unix_sock_path)
    # READY once join_async() is waiting (its signal handlers are in place): the test signals on it
    asyncio.get_running_loop().call_soon(functools.partial(print, "READY", flush=True))
    await g.join_async()
    print("STOPPED", flush=True)


def main_returns() -> None:
    Global(process_name="v1-returner", init_controller=True, unix_sock_path=args.unix_sock_path)
    print("READY", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.mode == "join-in-asyncio":
        asyncio.run(join_in_asyncio())
    elif args.mode == "join-async":
        asyncio.run(join_async())
    else:
        main_returns()
