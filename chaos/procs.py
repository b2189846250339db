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
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from types import TracebackType

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


class Child:
    """One process; its merged stdout/stderr is read by a thread (the last lines are kept)."""

    def __init__(self, name: str, args: list[str], keep_lines: int = 100) -> None:
        self.name = name
        self.tail: deque[str] = deque(maxlen=keep_lines)
        self._lines: list[tuple[float, str]] = []  # marker lines only (see _keep)
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        self.pid = self.proc.pid
        STARTED.append(self)
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    @staticmethod
    def _keep(line: str) -> bool:
        """Lines worth keeping for ``wait_for``/``count``: markers, and the controller's join/leave log."""
        return bool(READY.search(line)) or line.startswith(("MARK ", "RESULT ")) or " node '" in line

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            now = time.monotonic()
            with self._cond:
                self.tail.append(line)
                if self._keep(line):
                    self._lines.append((now, line))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str], deadline: float, start: int = 0) -> tuple[int, float, re.Match[str]]:
        """The first kept line at index >= ``start`` matching ``pattern``: (index, time seen, match)."""
        with self._cond:
            while True:
                for index in range(start, len(self._lines)):
                    seen, line = self._lines[index]
                    match = pattern.search(line)
                    if match:
                        return index, seen, match
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise ScenarioError(f"{self.name} exited with {self.proc.returncode}: {self.last_lines()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ScenarioTimeout(f"timeout waiting for {pattern.pattern!r} from {self.name}")
                self._cond.wait(min(remaining, 0.5))

    def count(self, pattern: re.Pattern[str]) -> int:
        with self._cond:
            return sum(1 for _, line in self._lines if pattern.search(line))

    def last_lines(self, n: int = 4) -> str:
        with self._cond:
            lines = [line for line in self.tail if line.strip()][-n:]
        return " | ".join(lines)[-800:]

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


class Fleet:
    """The children of one scenario; leaving the ``with`` block SIGKILLs and reaps every one."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.children: list[Child] = []

    def spawn(self, name: str, module: str, *args: str) -> Child:
        if time.monotonic() > self.deadline:
            raise ScenarioTimeout(f"deadline passed before starting {name}")
        child = Child(name, [sys.executable, "-m", module, *args])
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
