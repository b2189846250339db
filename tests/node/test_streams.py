"""Generator callbacks, STREAM and PERIOD with real processes, over TCP and UNIX."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from daffi import (
    BG,
    BROADCAST,
    FG,
    PERIOD,
    STREAM,
    Args,
    Global,
    GlobalContextError,
    RemoteCallError,
    ScheduledTask,
    fetcher,
)

from tests.support.nodes import caller, wait_until
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

# -- generator callbacks


def test_generator_callback_streams_back(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        assert list(g.call.count_up(100) & FG) == list(range(100))
        assert list(g.call.count_up(0) & FG) == []
        state = g.call.generator_state() & FG
        assert state == {"generator_closed": True, "generator_sent": 100}


def test_generator_callback_needs_fg(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        for modifier in (BG, BROADCAST, PERIOD(interval=1)):
            with pytest.raises(GlobalContextError, match=r"is a generator.*FG only"):
                g.call.count_up(3) & modifier


def test_generator_break_closes_remote(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    n = 1_000_000
    with caller(controller) as g:
        seen = []
        for i in g.call.count_up(n) & FG:
            seen.append(i)
            if i == 9:
                break
        assert seen == list(range(10))
        state: dict[str, Any] = {}

        def closed() -> bool:
            state.update(g.call.generator_state() & FG)
            return bool(state["generator_closed"])

        wait_until(closed, what="the remote generator closed")
        assert state["generator_sent"] < 10_000, state  # credit flow control: no runaway producer


def test_generator_close_closes_remote(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        items = g.call.count_up(1_000_000) & FG
        assert next(items) == 0
        assert next(items) == 1
        items.close()
        wait_until(lambda: (g.call.generator_state() & FG)["generator_closed"], what="the remote generator closed")
        assert (g.call.generator_state() & FG)["generator_sent"] < 10_000
        assert list(g.call.count_up(3) & FG) == [0, 1, 2]  # the node still serves generators


def test_generator_failure_midway(procs: Procs, controller: Where) -> None:
    procs.service(controller, "x", "calls_extra.py")
    with caller(controller) as g:
        got = []
        with pytest.raises(RemoteCallError) as info:
            for item in g.call.fails_midway(5) & FG:
                got.append(item)
        assert got == [0, 1, 2, 3, 4]  # every item before the error arrives
        assert info.value.type_name == "KeyError"
        assert "generator gave up" in str(info.value)
        assert "fails_midway" in info.value.remote_traceback


# -- STREAM


def test_stream_to_two_receivers_complete_and_ordered(procs: Procs, controller: Where) -> None:
    procs.service(controller, "r1")
    procs.service(controller, "r2")
    items = [(i, -i) for i in range(10_000)]
    with caller(controller) as g:
        start = time.monotonic()
        assert g.call.collect(items) & STREAM is None
        assert time.monotonic() - start < 20
        # STREAM returns when every receiver processed every item: no waiting needed here.
        assert g.call.received() & BROADCAST == {"r1": items, "r2": items}


def test_stream_to_one_parameter_receiver_keeps_tuples(procs: Procs, controller: Where) -> None:
    procs.service(controller, "r1")
    items = [(i, str(i)) for i in range(500)]
    with caller(controller) as g:
        g.call.collect_one(iter(items)) & STREAM  # any iterable, a one-shot iterator too
        assert g.call.received() & FG == items


def test_stream_args_items_and_generator_body(procs: Procs, controller: Where) -> None:
    procs.service(controller, "r1")

    @fetcher(STREAM, args_from_body=True)
    def collect(n: int) -> Iterator[Any]:
        for i in range(n):
            yield (i, i * i)
        yield Args("kw", b="arg")
        yield "alone"  # a single value: the first parameter, b keeps its default

    with caller(controller) as g:
        assert collect(300) is None
        expected = [(i, i * i) for i in range(300)] + [("kw", "arg"), ("alone", None)]
        assert g.call.received() & FG == expected


def test_stream_to_slow_receiver_waits_for_it(procs: Procs, controller: Where) -> None:
    procs.service(controller, "x", "calls_extra.py")
    items = list(range(2000))  # the receiver sleeps 1 ms per item
    with caller(controller) as g:
        start = time.monotonic()
        g.call.slow_collect(items) & STREAM
        assert time.monotonic() - start >= 2.0 * 0.9  # returned only once every item was processed
        assert g.call.slow_received() & FG == items


# -- PERIOD


def test_period_interval_list_cancel(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        task = g.call.tick() & PERIOD(interval=0.2)
        assert isinstance(task, ScheduledTask)
        wait_until(lambda: g.call.ticks() & FG >= 3, what="3 ticks")

        listed = g.get_scheduled_tasks("svc")
        assert [t["uuid"] for t in listed] == [task.uuid]
        assert listed[0]["func_name"] == "tick"

        assert task.cancel() is True
        after_cancel = g.call.ticks() & FG
        window_end = time.monotonic() + 0.8  # 4 intervals: a measurement window, not a sync wait
        while time.monotonic() < window_end:
            time.sleep(0.1)
        assert g.call.ticks() & FG == after_cancel
        assert task.cancel() is False
        assert g.get_scheduled_tasks("svc") == []


def test_period_at_time_fires_once(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        task = g.call.tick() & PERIOD(at_time=[time.time() + 0.3])
        assert isinstance(task, ScheduledTask)
        wait_until(lambda: g.call.ticks() & FG >= 1, what="the scheduled tick")
        wait_until(lambda: g.get_scheduled_tasks("svc") == [], what="the task ended")
        assert g.call.ticks() & FG == 1
        assert task.cancel() is False  # already finished


def test_period_interval_string(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with caller(controller) as g:
        task = g.call.tick() & PERIOD(interval="1s")
        try:
            wait_until(lambda: g.call.ticks() & FG >= 1, what="the first tick")
        finally:
            assert task.cancel() is True


def test_period_outlives_the_scheduling_process(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with Global(process_name="scheduler", **controller.kwargs) as g:
        task = g.call.tick() & PERIOD(interval=0.1)
    with Global(process_name="observer", **controller.kwargs) as g:
        first = g.call.ticks() & FG
        wait_until(lambda: g.call.ticks() & FG >= first + 3, what="ticks after the scheduler left")
    with Global(process_name="scheduler", **controller.kwargs) as g:
        assert [t["uuid"] for t in g.get_scheduled_tasks("svc")] == [task.uuid]
        assert g.cancel_scheduled_task_by_uuid("svc", task.uuid) is True
        assert g.get_scheduled_tasks("svc") == []


@pytest.mark.parametrize("bad", [{}, {"interval": 1, "at_time": [time.time() + 10]}, {"interval": 0}])
def test_period_needs_exactly_one_condition(bad: dict[str, Any]) -> None:
    from daffi import GlobalContextError

    with pytest.raises(GlobalContextError):
        PERIOD(**bad)
