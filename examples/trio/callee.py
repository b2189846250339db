"""A trio application serving async callbacks that use trio itself.

python callee.py [--port 8888]
"""

import argparse
import logging
import os

import trio

from daffi import Global, callback

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


@callback
async def slow_square(x: int) -> int:
    await trio.sleep(0.2)
    return x * x


@callback
async def squares_in_parallel(numbers: list[int]) -> list[int]:
    results: dict[int, int] = {}

    async def one(i: int, n: int) -> None:
        await trio.sleep(0.1)
        results[i] = n * n

    async with trio.open_nursery() as nursery:
        for i, n in enumerate(numbers):
            nursery.start_soon(one, i, n)
    return [results[i] for i in range(len(numbers))]


async def main(connection: dict) -> None:
    # Created inside trio.run: async callbacks of this process run under trio.
    g = Global(process_name="trio-callee", **connection)
    print("trio-callee: ready", flush=True)
    try:
        await g.join_async()  # until g.stop() or Ctrl-C
    finally:
        g.stop()


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    try:
        trio.run(main, connection)
    except KeyboardInterrupt:  # trio delivers Ctrl-C to the main task
        pass
    print("trio-callee: stopped", flush=True)
