"""Runs every example as real processes and checks what they print.

Seed examples (``examples/seeds``) run as written: each is copied to a temporary folder where only
its address changes (a free port, or no host/port for the default UNIX socket, made private to the
test through TMPDIR). They run from the repository's copies alone; whether the copies match the
seed documents is ``hatch run check-seeds`` (examples/check_seeds.py, see test_check_seeds.py).

The other examples take their address from DAFFI_HOST/DAFFI_PORT or DAFFI_UNIX_SOCK_PATH and meet
at a ``python -m daffi_controller`` started by the test.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.examples.conftest import Proc, Procs, Transport

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

OUTPUT_TIMEOUT = 30  # for one expected line
EXIT_TIMEOUT = 10  # for a process to stop after SIGINT or after its last line


def stop_cleanly(*processes: Proc) -> None:
    """SIGINT each process in turn; each must exit 0 without a traceback."""
    for proc in processes:
        proc.expect_clean_exit(proc.interrupt(EXIT_TIMEOUT))


def assert_socket_released(transport: Transport) -> None:
    if transport.kind == "unix":
        assert not transport.sock_path.exists(), f"{transport.sock_path} left behind after the controller stopped"


# --------------------------------------------------------------------------------------------
# Seed examples with a publisher that hosts the controller and a consumer that calls it once.


def start_seed_publisher(procs: Procs, transport: Transport, workdir: Path, relative: str, *callbacks: str) -> Proc:
    script = transport.copy_seed(relative, workdir)
    publisher = procs.start("publisher", [str(script)], transport.env(), cwd=script.parent, joins=True)
    transport.wait_listening(OUTPUT_TIMEOUT, watch=publisher)
    # The seed consumers call at once: wait until the callbacks are registered, as a user would.
    procs.probe(transport, *callbacks)
    return publisher


def start_seed_consumer(procs: Procs, transport: Transport, workdir: Path, relative: str) -> Proc:
    script = transport.copy_seed(relative, workdir)
    return procs.start("consumer", [str(script)], transport.env(), cwd=script.parent, joins=True)


def test_seed_quickstart(transport: Transport, procs: Procs, tmp_path: Path) -> None:
    """01: publisher (controller + node) and consumer print `Result = 20`; both stop on SIGINT."""
    publisher = start_seed_publisher(procs, transport, tmp_path, "01_quickstart/publisher.py", "sum_of_two_numbers")
    consumer = start_seed_consumer(procs, transport, tmp_path, "01_quickstart/consumer.py")

    consumer.wait_for(r"^Result = 20$", OUTPUT_TIMEOUT)
    stop_cleanly(consumer, publisher)
    assert consumer.lines() == ["Result = 20"]
    assert_socket_released(transport)


def test_seed_args_from_body(transport: Transport, procs: Procs, tmp_path: Path) -> None:
    """02: the args_from_body consumer against the 01 publisher prints `Result = 30`."""
    publisher = start_seed_publisher(procs, transport, tmp_path, "01_quickstart/publisher.py", "sum_of_two_numbers")
    consumer = start_seed_consumer(procs, transport, tmp_path, "02_args_from_body/consumer.py")

    consumer.wait_for(r"^Result = 30$", OUTPUT_TIMEOUT)
    stop_cleanly(consumer, publisher)
    assert consumer.lines() == ["Result = 30"]
    assert_socket_released(transport)


AWERSOME_CALL = r"^my_awersome_func called with a='(\w+)', b='(\w+)'$"


def test_seed_another_fetcher_syntax(transport: Transport, procs: Procs, tmp_path: Path) -> None:
    """05: `& FG` gives `Result = foobar`; `& BROADCAST` and `& STREAM` reach the counterpart,
    each stream tuple unpacked into (a, b)."""
    publisher = start_seed_publisher(
        procs, transport, tmp_path, "05_another_fetcher_syntax/publisher.py", "my_awersome_func"
    )
    consumer = start_seed_consumer(procs, transport, tmp_path, "05_another_fetcher_syntax/consumer.py")

    consumer.wait_for(r"^Result = foobar$", OUTPUT_TIMEOUT)
    calls = publisher.wait_for(AWERSOME_CALL, OUTPUT_TIMEOUT, count=6)
    received = sorted(m.groups() for m in calls)
    expected = sorted([("foo", "bar"), ("foo", "bar"), ("a", "b"), ("c", "d"), ("f", "g"), ("y", "z")])
    assert received == expected, publisher.describe()
    # STREAM returns once the last item was processed; only then does the consumer reach g.join().
    consumer.wait_joined(OUTPUT_TIMEOUT)
    stop_cleanly(consumer, publisher)
    assert consumer.lines() == ["Result = foobar"]
    assert len(publisher.matching(AWERSOME_CALL)) == 6, "a call was delivered twice\n" + publisher.describe()
    assert_socket_released(transport)


def test_seed_g_call(transport: Transport, procs: Procs, tmp_path: Path) -> None:
    """06: `g.call.my_awersome_func(...) & FG` without a fetcher prints `Result = foobar`."""
    publisher = start_seed_publisher(
        procs, transport, tmp_path, "05_another_fetcher_syntax/publisher.py", "my_awersome_func"
    )
    consumer = start_seed_consumer(procs, transport, tmp_path, "06_g_call/consumer.py")

    consumer.wait_for(r"^Result = foobar$", OUTPUT_TIMEOUT)
    publisher.wait_for(r"^my_awersome_func called with a='foo', b='bar'$", OUTPUT_TIMEOUT)
    stop_cleanly(consumer, publisher)
    assert consumer.lines() == ["Result = foobar"]


# --------------------------------------------------------------------------------------------
# The two-way seed examples: 10 calls 3 s apart on each side (~30 s by design). The four runs
# (03 and 04, each over TCP and over the UNIX socket) go in parallel.

TWO_WAY_TIMEOUT = 60


def run_two_way(folder: str, transport: Transport, procs: Procs, workdir: Path) -> tuple[Proc, Proc]:
    publisher_script = transport.copy_seed(f"{folder}/publisher.py", workdir)
    consumer_script = transport.copy_seed(f"{folder}/consumer.py", workdir)
    tag = f"{folder}[{transport.kind}]"
    publisher = procs.start(f"publisher {tag}", [str(publisher_script)], transport.env(), cwd=workdir)
    transport.wait_listening(OUTPUT_TIMEOUT, watch=publisher)
    consumer = procs.start(f"consumer {tag}", [str(consumer_script)], transport.env(), cwd=workdir)
    # Both wait for each other by name, call 10 times and stop by themselves.
    deadline = time.monotonic() + TWO_WAY_TIMEOUT
    consumer.wait_exit(TWO_WAY_TIMEOUT)
    publisher.wait_exit(max(deadline - time.monotonic(), 1))
    assert_socket_released(transport)
    return publisher, consumer


@pytest.mark.slow
def test_seed_two_way_examples(transport_factory: Callable[[str], Transport], procs: Procs, tmp_path: Path) -> None:
    """03 and 04 over TCP and UNIX socket, run at the same time.

    03: the consumer prints `Result = 20` ten times; the publisher prints ten float timestamps
    from the async `consumer_time` (not coroutine reprs). 04: `publisher called 'consumer'` and
    `consumer called 'publisher'` ten times each. All processes exit 0 by themselves.
    """
    runs = [(folder, kind) for folder in ("03_bidirectional", "04_callback_and_fetcher") for kind in ("tcp", "unix")]
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {
            run: pool.submit(run_two_way, run[0], transport_factory(run[1]), procs, tmp_path / f"{run[0]}-{run[1]}")
            for run in runs
        }
        finished = {run: future.result() for run, future in futures.items()}

    now = time.time()
    for (folder, _kind), (publisher, consumer) in finished.items():
        context = publisher.describe() + consumer.describe()
        for proc in (publisher, consumer):
            proc.expect_clean_exit(proc.returncode if proc.returncode is not None else -1)
            assert not proc.matching("coroutine", "any"), context
        if folder == "03_bidirectional":
            assert consumer.lines() == ["Result = 20"] * 10, context
            times = [float(m.group(1)) for m in publisher.matching(r"^Current consumer time: (\d+\.\d+)$")]
            assert len(times) == 10 == len(publisher.lines()), context
            # utcnow().timestamp() is shifted by the local UTC offset: allow a day.
            assert all(abs(t - now) < 86400 + 120 for t in times), context
            assert times == sorted(times), context
        else:
            assert publisher.lines() == ["publisher called 'consumer'"] * 10, context
            assert consumer.lines() == ["consumer called 'publisher'"] * 10, context


# --------------------------------------------------------------------------------------------
# The other examples: nodes meeting at a stand-alone controller.


def example(relative: str) -> str:
    return str(EXAMPLES / relative)


def test_broadcast(transport: Transport, procs: Procs) -> None:
    """BROADCAST reaches all three workers; the caller prints each worker's result."""
    controller = procs.controller(transport)
    env = transport.env()
    workers = [
        procs.start(f"worker-{i}", [example("broadcast/worker.py"), "--name", f"worker-{i}"], env, joins=True)
        for i in (1, 2, 3)
    ]
    for worker in workers:
        worker.wait_for(r": ready$", OUTPUT_TIMEOUT)
    caller = procs.start("caller", [example("broadcast/caller.py"), "--workers", "3"], env)

    caller.expect_clean_exit(caller.wait_exit(OUTPUT_TIMEOUT))
    for i in (1, 2, 3):
        assert f"worker-{i} -> worker-{i} squared 7 = 49" in caller.lines(), caller.describe()
        workers[i - 1].wait_for(r"^worker-\d: processing 3$", OUTPUT_TIMEOUT)
    assert "broadcast reached 3 nodes" in caller.lines(), caller.describe()
    assert "second broadcast: ['worker-1 squared 3 = 9', 'worker-2 squared 3 = 9', 'worker-3 squared 3 = 9']" in (
        caller.lines()
    ), caller.describe()
    for worker in workers:
        assert len(worker.matching(r"processing 7$")) == 1, worker.describe()
    stop_cleanly(*workers, controller)
    assert_socket_released(transport)


def test_stream_to_callee(tcp: Transport, procs: Procs) -> None:
    """STREAM delivers every item, unpacked into (word, position), to both receivers."""
    controller = procs.controller(tcp)
    env = tcp.env()
    receivers = [
        procs.start(
            f"receiver-{i}",
            [example("stream_to_callee/receiver.py"), "--name", f"receiver-{i}"],
            env,
            joins=True,
        )
        for i in (1, 2)
    ]
    for receiver in receivers:
        receiver.wait_for(r": ready$", OUTPUT_TIMEOUT)
    sender = procs.start("sender", [example("stream_to_callee/sender.py"), "--receivers", "2"], env)

    sender.expect_clean_exit(sender.wait_exit(OUTPUT_TIMEOUT))
    sentence = "the quick brown fox jumps over the lazy dog"
    assert sender.lines() == [
        "streamed 9 items",
        f"receiver-1 has: {sentence}",
        f"receiver-2 has: {sentence}",
    ], sender.describe()
    for receiver in receivers:
        items = sorted((int(m.group(1)), m.group(2)) for m in receiver.matching(r"received #(\d+) '(\w+)'$"))
        assert items == list(enumerate(sentence.split())), receiver.describe()
    stop_cleanly(*receivers, controller)


def test_stream_from_callee(tcp: Transport, procs: Procs) -> None:
    """A generator callback is an iterator on the caller; `break` closes the remote generator."""
    controller = procs.controller(tcp)
    env = tcp.env()
    producer = procs.start("producer", [example("stream_from_callee/producer.py")], env, joins=True)
    producer.wait_for(r"^producer: ready$", OUTPUT_TIMEOUT)
    consumer = procs.start("consumer", [example("stream_from_callee/consumer.py")], env)

    consumer.expect_clean_exit(consumer.wait_exit(OUTPUT_TIMEOUT))
    assert consumer.lines() == [
        "countdown item: 5",
        "countdown item: 4",
        "countdown item: 3",
        "countdown item: 2",
        "countdown item: 1",
        "countdown as list: [3, 2, 1]",
        "first naturals: [1, 2, 3, 4, 5]",
    ], consumer.describe()
    producer.wait_for(r"^producer: countdown from 5 finished$", OUTPUT_TIMEOUT)
    producer.wait_for(r"^producer: naturals closed after \d+ items$", OUTPUT_TIMEOUT)
    stop_cleanly(producer, controller)


def test_period(tcp: Transport, procs: Procs) -> None:
    """PERIOD(interval=1) runs `tick` on the ticker until the ScheduledTask is cancelled."""
    controller = procs.controller(tcp)
    env = tcp.env()
    ticker = procs.start("ticker", [example("period/ticker.py")], env, joins=True)
    ticker.wait_for(r"^ticker: ready$", OUTPUT_TIMEOUT)
    scheduler = procs.start("scheduler", [example("period/scheduler.py"), "--ticks", "3"], env)

    scheduler.expect_clean_exit(scheduler.wait_exit(OUTPUT_TIMEOUT))
    out = scheduler.lines()
    assert re.fullmatch(r"scheduled task \S+", out[0]), scheduler.describe()
    assert out[1] == "scheduled on ticker: 1 task(s)", scheduler.describe()
    before = int(re.fullmatch(r"ticks before cancel: (\d+)", out[2]).group(1))  # type: ignore[union-attr]
    assert before >= 3, scheduler.describe()
    assert out[3] == "task cancelled", scheduler.describe()
    assert re.fullmatch(r"ticks after cancel: (\d+) -> \1 \(stopped\)", out[4]), scheduler.describe()
    ticks = [int(m.group(1)) for m in ticker.matching(r"^ticker: heartbeat tick #(\d+)$")]
    assert ticks == list(range(1, len(ticks) + 1)) and len(ticks) >= 3, ticker.describe()
    stop_cleanly(ticker, controller)


def test_pipeline(tcp: Transport, procs: Procs) -> None:
    """client -> stage-one -> stage-two: the injected `g` calls onward, results come back."""
    controller = procs.controller(tcp)
    env = tcp.env()
    stage_two = procs.start("stage-two", [example("pipeline/stage_two.py")], env, joins=True)
    stage_one = procs.start("stage-one", [example("pipeline/stage_one.py")], env, joins=True)
    stage_two.wait_for(r"^stage-two: ready$", OUTPUT_TIMEOUT)
    stage_one.wait_for(r"^stage-one: ready$", OUTPUT_TIMEOUT)
    client = procs.start("client", [example("pipeline/client.py")], env)

    client.expect_clean_exit(client.wait_exit(OUTPUT_TIMEOUT))
    assert client.lines() == [
        "pipeline result: 1 -> x2 -> +1 = 3",
        "pipeline result: 5 -> x2 -> +1 = 11",
        "pipeline result: 20 -> x2 -> +1 = 41",
    ], client.describe()
    assert stage_one.matching(r"^stage-one: 20 -> 41$"), stage_one.describe()
    assert stage_two.matching(r"^stage-two: formatting 41 \(from 20\)$"), stage_two.describe()
    stop_cleanly(stage_one, stage_two, controller)


def test_transfer_and_call(tcp: Transport, procs: Procs) -> None:
    """Functions sent with transfer_and_call run in the worker's process (its pid comes back)."""
    controller = procs.controller(tcp)
    env = tcp.env()
    worker = procs.start("worker", [example("transfer_and_call/worker.py")], env, joins=True)
    worker_pid = int(worker.wait_for(r"^worker: ready, pid=(\d+)$", OUTPUT_TIMEOUT)[0].group(1))
    client = procs.start("client", [example("transfer_and_call/client.py")], env)

    client.expect_clean_exit(client.wait_exit(OUTPUT_TIMEOUT))
    assert client.lines() == [
        f"client pid={client.pid}",
        f"ran remotely: pid={worker_pid} total=10",
        "async function result: 42",
        "lambda result: 1024",
    ], client.describe()
    stop_cleanly(worker, controller)


def test_class_callback(tcp: Transport, procs: Procs) -> None:
    """Instance, static and class methods of a @callback class are callable; a second instance is refused."""
    controller = procs.controller(tcp)
    env = tcp.env()
    service = procs.start("service", [example("class_callback/service.py")], env, joins=True)
    service.wait_for(r"^service: ready", OUTPUT_TIMEOUT)
    assert service.matching(r"^service: second instance refused \(InitializationError\)$"), service.describe()
    client = procs.start("client", [example("class_callback/client.py")], env)

    client.expect_clean_exit(client.wait_exit(OUTPUT_TIMEOUT))
    assert client.lines() == [
        "apples: 3",
        "apples: 7",
        "pears: 2",
        "report: warehouse: apples=7, pears=2",
        "version: inventory 1.0",
        "kind: class Inventory",
        "unknown method: UnableToFindCandidate",
    ], client.describe()
    stop_cleanly(service, controller)


def test_trio(tcp: Transport, procs: Procs) -> None:
    """A trio caller awaits async callbacks served under trio (trio.sleep, a nursery, BG + get_async)."""
    controller = procs.controller(tcp)
    env = tcp.env()
    callee = procs.start("trio-callee", [example("trio/callee.py")], env)
    callee.wait_for(r"^trio-callee: ready$", OUTPUT_TIMEOUT)
    caller = procs.start("trio-caller", [example("trio/caller.py")], env)

    caller.expect_clean_exit(caller.wait_exit(OUTPUT_TIMEOUT))
    assert caller.lines() == [
        "slow_square(7) = 49",
        "concurrent squares: [1, 4, 9, 16, 25]",
        "squares_in_parallel: [4, 9, 16]",
        "background result: 81",
    ], caller.describe()
    stop_cleanly(callee, controller)


# --------------------------------------------------------------------------------------------
# The main job.


def test_demo(tcp: Transport, procs: Procs) -> None:
    """examples/demo/run.py: controller + two nodes calling each other, summary, exit 0."""
    demo = procs.start("demo", [example("demo/run.py"), "--timeout", "60"], tcp.env())
    rc = demo.wait_exit(75)
    out = demo.lines()
    assert rc == 0, demo.describe()
    assert out[-1] == "DEMO OK", demo.describe()
    assert "  node-a: 10/10 calls ok, exit code 0" in out, demo.describe()
    assert "  node-b: 10/10 calls ok, exit code 0" in out, demo.describe()
    assert any(re.fullmatch(r"  controller: 127\.0\.0\.1:\d+, exit code 0", line) for line in out), demo.describe()
    assert len([line for line in out if re.search(r"^\[node-a\] node-a: multiply\(\d, 7\) = \d+ ok$", line)]) == 5
    assert len([line for line in out if re.search(r"^\[node-b\] node-b: add\(\d, 100\) = \d+ ok$", line)]) == 5
