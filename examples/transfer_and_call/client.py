"""Sends functions by value to the `worker` node, runs them there and prints the results.

python client.py [--port 8888]
"""

import argparse
import logging
import os

from daffi import Global

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


def describe_process(numbers: list[int]) -> dict:
    # Imports belong inside the function: it runs in the remote process.
    import os

    return {"pid": os.getpid(), "total": sum(numbers)}


async def triple_later(x: int) -> int:
    import asyncio

    await asyncio.sleep(0.1)
    return x * 3


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="transfer-client", **connection) as g:
        g.wait_process("worker", timeout=30)

        info = g.transfer_and_call("worker", describe_process, [1, 2, 3, 4])
        print(f"client pid={os.getpid()}", flush=True)
        print(f"ran remotely: pid={info['pid']} total={info['total']}", flush=True)

        print(f"async function result: {g.transfer_and_call('worker', triple_later, 14)}", flush=True)
        print(f"lambda result: {g.transfer_and_call('worker', lambda a, b: a ** b, 2, b=10)}", flush=True)
