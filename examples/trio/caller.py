"""A trio application awaiting remote callbacks, one by one and concurrently.

python caller.py [--port 8888]
"""

import argparse
import logging
import os

import trio

from daffi import BG, FG, Global, __body_unknown__, fetcher

logging.basicConfig(level=logging.INFO)


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": args.port}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}


@fetcher(FG)
async def slow_square(x: int) -> int:
    __body_unknown__(x)


@fetcher(FG(timeout=10))
async def squares_in_parallel(numbers: list[int]) -> list[int]:
    __body_unknown__(numbers)


async def main(connection: dict) -> None:
    g = Global(process_name="trio-caller", **connection)
    try:
        await g.wait_process_async("trio-callee", timeout=30)

        print(f"slow_square(7) = {await slow_square(7)}", flush=True)

        results: dict[int, int] = {}

        async def one(x: int) -> None:
            results[x] = await slow_square(x)

        with trio.fail_after(10):  # five 0.2 s calls at once finish well before 1 s
            async with trio.open_nursery() as nursery:
                for x in range(1, 6):
                    nursery.start_soon(one, x)
        print(f"concurrent squares: {[results[x] for x in range(1, 6)]}", flush=True)

        print(f"squares_in_parallel: {await squares_in_parallel([2, 3, 4])}", flush=True)

        # Another modifier for the same callback, through g.call: BG gives an AsyncResult.
        future = g.call.slow_square(9) & BG(timeout=10)
        print(f"background result: {await future.get_async()}", flush=True)
    finally:
        g.stop()


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    trio.run(main, connection)
