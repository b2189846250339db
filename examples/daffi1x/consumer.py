"""Calls the publishers' callbacks with the spellings of daffi 1.x.

python consumer.py --publishers 2 [--port 8888]
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from daffi.async_result import AsyncResult
from daffi.decorators import __body_unknown__, callback_and_fetcher, fetcher
from daffi.execution_modifiers import BG, FG
from daffi.globals import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME = "consumer"


@fetcher(BG(eta=1))
async def add(a: int, b: int) -> int:
    """Runs a publisher's ``add`` in the background, one second from now."""
    __body_unknown__(a, b)
    return 0  # never runs: the body only names the arguments


@callback_and_fetcher(FG)
def process_name() -> str:
    """This node's copy serves the publishers; called here, it runs a publisher's copy."""
    return NAME


@callback_and_fetcher
class Greeter:
    @staticmethod
    def greet(who: str) -> str:
        return f"{NAME} greets {who}"


async def background_sum() -> int:
    ares = await add(5, 15)  # BG: awaiting gives the AsyncResult, as in 1.x
    assert isinstance(ares, AsyncResult)
    result: int = ares.get(timeout=10)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishers", type=int, default=2, help="wait for publisher-1 .. publisher-N")
    args, connection = parse_args(parser)

    g = Global(process_name=NAME, **connection)
    for i in range(1, args.publishers + 1):
        g.wait_process(f"publisher-{i}", timeout=30)

    print(f"await add(5, 15), then .get(): {asyncio.run(background_sum())}", flush=True)

    # The call-style methods of 1.x on g.call.
    print(f"g.call.add(1, 2).fg(): {g.call.add(1, 2).fg(timeout=10)}", flush=True)
    ares = g.call.add(2, 3).bg(eta=0.5)
    print(f"g.call.add(2, 3).bg(eta=0.5).get(): {ares.get(timeout=10)}", flush=True)
    answers = g.call.whoami().broadcast(timeout=10)
    print(f"g.call.whoami().broadcast(): {dict(sorted(answers.items()))}", flush=True)

    # The per-call modifier keyword overrides the decorator's BG.
    print(f"add(10, 20, __exec_modifier__=FG): {add(10, 20, __exec_modifier__=FG)}", flush=True)

    # callback_and_fetcher: the call runs a publisher's copy, never this node's.
    print(f"process_name(): {process_name()}", flush=True)
    print(f"Greeter.greet('Ann') & FG: {Greeter.greet('Ann') & FG}", flush=True)

    g.stop()
