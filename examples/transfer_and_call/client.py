"""Sends functions by value to the `worker` node, runs them there and prints the results.

python client.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from daffi import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


def describe_process(numbers: list[int]) -> dict[str, Any]:
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
        print(f"lambda result: {g.transfer_and_call('worker', lambda a, b: a**b, 2, b=10)}", flush=True)
