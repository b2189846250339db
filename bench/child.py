"""A child process for the harnesses (bench/, chaos/): own session, output read by a thread, group kill."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class Child:
    """One process in its own session; a thread reads its merged output, ``kill`` ends its whole group.

    Subclasses look at each line in ``_on_line`` (called with the lock held) and wait with ``_wait``.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], keep: int = 200, cwd: Path | None = None):
        self.name = name
        self.tail: deque[str] = deque(maxlen=keep)
        self._cond = threading.Condition()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _on_line(self, now: float, line: str) -> None:
        """Called for every output line, with the lock held."""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            now = time.monotonic()
            with self._cond:
                self.tail.append(line)
                self._on_line(now, line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait(
        self,
        found: Callable[[], T | None],
        deadline: float,
        exited: Callable[[str], Exception],
        timed_out: Callable[[], Exception],
    ) -> T:
        """``found()`` (run with the lock held) once it is not None; its errors when the child ends or time is up."""
        with self._cond:
            while True:
                value = found()
                if value is not None:
                    return value
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise exited(f"{self.name} exited with {self.proc.returncode}: {self.last_lines()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise timed_out()
                self._cond.wait(min(remaining, 0.5))

    def last_lines(self, n: int = 4, width: int = 800) -> str:
        with self._cond:
            lines = [line for line in self.tail if line.strip()][-n:]
        return " | ".join(lines)[-width:]

    def send(self, line: str) -> None:
        """One line to the child's standard input."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.rstrip("\n") + "\n")
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
