"""Runs examples/daffi1x (scripts written with the spellings of daffi 1.x) as real processes.

Two publishers meet the scripts at a ``python -m daffi_controller`` started by the test; the tests
check the values the scripts print, that a stream reached every receiver completely, and that
``g.stop(kill_all_connected_nodes=True)`` makes the publishers' processes exit 0 by themselves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.examples.conftest import Proc, Procs, Transport

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "daffi1x"
PUBLISHERS = ("publisher-1", "publisher-2")

OUTPUT_TIMEOUT = 30  # for one expected line
EXIT_TIMEOUT = 15  # for a script to end by itself, or a process to stop after SIGINT

STREAM_ITEMS = 1000
KILL_ALL_LOG = "stopping: node 'shutdown' asked every connected node to stop (kill_all)"


def script(name: str) -> str:
    return str(EXAMPLE / name)


def start_publishers(procs: Procs, transport: Transport) -> list[Proc]:
    publishers = [
        procs.start(name, [script("publisher.py"), "--name", name], transport.env(), joins=True) for name in PUBLISHERS
    ]
    for publisher in publishers:
        # A local call of the callback taking g printed the running Global's name.
        publisher.wait_for(rf"^{publisher.name}: ready as {publisher.name}$", OUTPUT_TIMEOUT)
    return publishers


def run_to_end(procs: Procs, transport: Transport, name: str, *args: str) -> Proc:
    """Run one of the calling scripts; it must exit 0 by itself, without a traceback."""
    proc = procs.start(name, [script(f"{name}.py"), *args], transport.env())
    proc.expect_clean_exit(proc.wait_exit(OUTPUT_TIMEOUT + EXIT_TIMEOUT))
    return proc


def test_the_1x_call_spellings(transport: Transport, procs: Procs) -> None:
    """consumer.py: an awaited async BG fetcher gives an AsyncResult; .fg(), .bg(), .broadcast(),
    ``__exec_modifier__`` and callback_and_fetcher (a function and a class) print the remote values."""
    controller = procs.controller(transport)
    publishers = start_publishers(procs, transport)

    consumer = run_to_end(procs, transport, "consumer")
    lines = consumer.lines()
    assert lines[:5] == [
        "await add(5, 15), then .get(): 20",
        "g.call.add(1, 2).fg(): 3",
        "g.call.add(2, 3).bg(eta=0.5).get(): 5",
        "g.call.whoami().broadcast(): {'publisher-1': 'publisher-1', 'publisher-2': 'publisher-2'}",
        "add(10, 20, __exec_modifier__=FG): 30",
    ], consumer.describe()
    # callback_and_fetcher runs a publisher's copy, never the consumer's own.
    assert len(lines) == 7, consumer.describe()
    assert re.fullmatch(r"process_name\(\): publisher-[12]", lines[5]), consumer.describe()
    assert re.fullmatch(r"Greeter\.greet\('Ann'\) & FG: publisher-[12] greets Ann", lines[6]), consumer.describe()

    for proc in (*publishers, controller):
        proc.expect_clean_exit(proc.interrupt(EXIT_TIMEOUT))
    for publisher in publishers:
        assert publisher.lines()[-1] == f"{publisher.name}: stopped after 0 stream items, sum 0", publisher.describe()


def test_a_stream_then_kill_all_connected_nodes(transport: Transport, procs: Procs) -> None:
    """streamer.py streams from sync code through an async fetcher and stops at once: every item
    reached both publishers. shutdown.py's ``g.stop(kill_all_connected_nodes=True)`` then ends
    the publishers' processes: they exit 0 by themselves, logging who asked."""
    controller = procs.controller(transport)
    publishers = start_publishers(procs, transport)

    streamer = run_to_end(procs, transport, "streamer", "--count", str(STREAM_ITEMS))
    assert streamer.lines() == [f"streamed {STREAM_ITEMS} items"], streamer.describe()

    shutdown = run_to_end(procs, transport, "shutdown")
    assert shutdown.lines() == [
        "stopping ['publisher-1', 'publisher-2']",
        "every connected node was asked to stop",
    ], shutdown.describe()

    expected_sum = STREAM_ITEMS * (STREAM_ITEMS - 1) // 2
    for publisher in publishers:
        publisher.expect_clean_exit(publisher.wait_exit(EXIT_TIMEOUT))  # no signal from the test
        assert publisher.lines()[-1] == (
            f"{publisher.name}: stopped after {STREAM_ITEMS} stream items, sum {expected_sum}"
        ), publisher.describe()
        assert publisher.matching(re.escape(KILL_ALL_LOG), "stderr"), publisher.describe()

    # The stand-alone controller is no node: kill_all leaves it serving.
    assert controller.returncode is None, controller.describe()
    controller.expect_clean_exit(controller.interrupt(EXIT_TIMEOUT))
