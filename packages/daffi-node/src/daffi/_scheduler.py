"""PERIOD tasks: scheduled on the callee, they outlive the process that scheduled them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypedDict

__all__ = ["Condition", "Scheduler", "Task", "TaskInfo"]

log = logging.getLogger("daffi.node")


#: How a task runs: every interval, or at given points in time.
Condition = Literal["period", "at_time"]


class TaskInfo(TypedDict):
    """A scheduled task as ``Global.get_scheduled_tasks`` lists it."""

    condition: Condition
    func_name: str
    uuid: str
    runs: int


@dataclass
class Task:
    uuid: str
    caller: str
    func_name: str
    condition: Condition
    runs: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def as_dict(self) -> TaskInfo:
        return {"condition": self.condition, "func_name": self.func_name, "uuid": self.uuid, "runs": self.runs}


class Scheduler:
    """Runs ``run()`` on the node loop at points in time or every interval."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._ended: dict[str, None] = {}  # insertion-ordered, trimmed: tells "finished" from "unknown"

    def add(
        self,
        caller: str,
        func_name: str,
        run: Callable[[], Awaitable[None]],
        interval: float | None,
        at_time: list[float],
    ) -> str:
        entry = Task(uuid.uuid4().hex, caller, func_name, "period" if interval else "at_time")
        entry.task = asyncio.get_running_loop().create_task(self._drive(entry, run, interval, at_time))
        self._tasks[entry.uuid] = entry
        return entry.uuid

    async def _drive(
        self, entry: Task, run: Callable[[], Awaitable[None]], interval: float | None, at_time: list[float]
    ) -> None:
        try:
            if interval:
                next_at = time.monotonic() + interval
                while True:
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at += interval  # fixed rate: a slow run does not shift the schedule
                    entry.runs += 1
                    await self._run_once(entry, run)
            else:
                for moment in at_time:
                    await asyncio.sleep(max(0.0, moment - time.time()))
                    entry.runs += 1
                    await self._run_once(entry, run)
        finally:
            self._end(entry.uuid)

    def _end(self, task_uuid: str) -> None:
        self._tasks.pop(task_uuid, None)
        self._ended[task_uuid] = None
        if len(self._ended) > 10_000:
            del self._ended[next(iter(self._ended))]

    @staticmethod
    async def _run_once(entry: Task, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except BaseException:  # SystemExit & co. from the callback must not stop the node's loop
            log.exception("scheduled task %s (%s) failed", entry.uuid, entry.func_name)

    def list_for(self, caller: str) -> list[TaskInfo]:
        return [t.as_dict() for t in self._tasks.values() if t.caller == caller]

    def cancel(self, task_uuid: str) -> bool:
        """True when the task was stopped, False when it had ended; KeyError when never known."""
        entry = self._tasks.get(task_uuid)
        if entry is None:
            if task_uuid in self._ended:
                return False
            raise KeyError(f"no scheduled task {task_uuid!r} on this node")
        self._end(task_uuid)
        if entry.task is not None:
            entry.task.cancel()
        return True

    async def close(self) -> None:
        tasks = [t.task for t in self._tasks.values() if t.task is not None]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
