"""The node's loop runtime: timers cancelled from other threads leave the loop."""

from __future__ import annotations

import asyncio

from daffi._runtime import DISARM_BATCH, Runtime


async def _live_handles() -> int:
    """Timer handles the loop still holds that are not cancelled (asyncio's own heap)."""
    scheduled: list[asyncio.TimerHandle] = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    return sum(1 for handle in scheduled if not handle.cancelled())


def test_timers_cancelled_off_the_loop_do_not_stay_in_it_until_due() -> None:
    """A call's timeout timer is cancelled by the thread that got its reply: a minute-long timer per
    call must not pile up in the loop (it did: ~0.5 KiB per call, a minute's worth of calls)."""
    runtime = Runtime(asyncio.new_event_loop())
    try:
        count = 4 * DISARM_BATCH
        timers = [runtime.call_later(60, lambda: None) for _ in range(count)]
        assert runtime.run(_live_handles(), 5) >= count  # armed on the loop
        for timer in timers:
            timer.cancel()  # from this thread, as a waiting caller does
        assert runtime.run(_live_handles(), 5) < DISARM_BATCH  # at most one batch waits
    finally:
        runtime.close()
