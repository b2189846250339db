"""Child processes of a scenario: start, read their lines, wait for markers, sample memory, reap.

Every child runs in its own session (process group) so that a kill takes its threads and any
grandchildren with it. A :class:`Fleet` owns the children of one scenario and kills them all on
exit, whatever happened.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from bench import child as base

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready on|^READY\b")


class ScenarioError(Exception):
    """A scenario could not finish: a child died or said something unexpected."""


class ScenarioTimeout(ScenarioError):
    """A scenario ran past its hard deadline."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float | None:
    """VmRSS of a live process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


#: every child any fleet started in this run (to prove all were reaped)
STARTED: list[Child] = []


def not_reaped() -> list[int]:
    return [c.pid for c in STARTED if c.proc.poll() is None]


class Child(base.Child):
    """A scenario's process; keeps its marker lines (and the controller's join/leave log) with their times."""

    def __init__(self, name: str, args: list[str], keep_lines: int = 100, env: dict[str, str] | None = None) -> None:
        self._lines: list[tuple[float, str]] = []
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        super().__init__(name, args, environ, keep=keep_lines, cwd=ROOT)
        STARTED.append(self)

    def _on_line(self, now: float, line: str) -> None:
        if READY.search(line) or line.startswith(("MARK ", "RESULT ")) or " node '" in line:
            self._lines.append((now, line))

    def wait_for(self, pattern: re.Pattern[str], deadline: float, start: int = 0) -> tuple[int, float, re.Match[str]]:
        """The first kept line at index >= ``start`` matching ``pattern``: (index, time seen, match)."""

        def found() -> tuple[int, float, re.Match[str]] | None:
            for index in range(start, len(self._lines)):
                seen, line = self._lines[index]
                match = pattern.search(line)
                if match:
                    return index, seen, match
            return None

        def timed_out() -> Exception:
            return ScenarioTimeout(f"timeout waiting for {pattern.pattern!r} from {self.name}")

        return self._wait(found, deadline, ScenarioError, timed_out)

    def count(self, pattern: re.Pattern[str]) -> int:
        with self._cond:
            return sum(1 for _, line in self._lines if pattern.search(line))


class Fleet:
    """The children of one scenario; leaving the ``with`` block SIGKILLs and reaps every one."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.children: list[Child] = []

    def spawn(self, name: str, module: str, *args: str, env: dict[str, str] | None = None) -> Child:
        if time.monotonic() > self.deadline:
            raise ScenarioTimeout(f"deadline passed before starting {name}")
        child = Child(name, [sys.executable, "-m", module, *args], env=env)
        self.children.append(child)
        return child

    def controller(self, address: list[str]) -> Child:
        child = self.spawn("controller", "daffi_controller", *address)
        child.wait_for(READY, self.deadline)
        return child

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Kill in reverse start order (nodes before the controller), then reap.
        for child in reversed(self.children):
            if child.alive():
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for child in reversed(self.children):
            child.kill()
