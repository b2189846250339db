"""A node written for daffi 1.x: its callbacks are called by consumer.py, streamer.py and shutdown.py.

python publisher.py --name publisher-1 [--port 8888]

It serves until a signal stops it, or until another node calls ``g.stop(kill_all_connected_nodes=True)``
(shutdown.py); then it prints how many stream items it received.
"""

import argparse
import logging
import sys
import threading
from pathlib import Path

# The module paths of daffi 1.x: they still import.
from daffi.decorators import callback, callback_and_fetcher
from daffi.execution_modifiers import FG
from daffi.globals import Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)

NAME = "publisher"
received: list[int] = []
lock = threading.Lock()


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
def whoami(g: Global) -> str:
    """A parameter named ``g`` gets the Global of the node the callback runs on."""
    return g.process_name


@callback
def collect(item: int) -> None:
    """The receiving end of streamer.py: one call per stream item."""
    with lock:
        received.append(item)


@callback_and_fetcher(FG)
def process_name() -> str:
    """Served here, and called here it runs another node's copy (consumer.py defines one too)."""
    return NAME


@callback_and_fetcher
class Greeter:
    """A class that is callback and fetcher at once: its public methods are registered."""

    @staticmethod
    def greet(who: str) -> str:
        return f"{NAME} greets {who}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="process name of this node")
    args, connection = parse_args(parser)
    NAME = args.name

    g = Global(process_name=NAME, **connection)
    # A local call of a callback taking g: the running Global is passed, as in 1.x (the type
    # checker cannot know that g is filled in).
    print(f"{NAME}: ready as {whoami()}", flush=True)  # type: ignore[call-arg]
    g.join()  # serve until Ctrl-C / SIGTERM / kill_all
    with lock:
        print(f"{NAME}: stopped after {len(received)} stream items, sum {sum(received)}", flush=True)
