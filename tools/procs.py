"""Child processes for the tests, the benchmark, the chaos harness and the demo: the one ``Popen`` block.

Why here: tests/, bench/, chaos/ and examples/demo/ all start real processes and wait for lines they
print. tools/ is the one folder at the top of the repository that each of them can import without
importing another (stdlib only, so the demo's lean environment and the benchmark's anchor environments
import it too). tests/support/procs.py and tests/examples/conftest.py keep their fixtures' names as thin
layers over :class:`Proc`.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")


class ProcError(Exception):
    """The process ended before what was waited for."""


class ProcTimeout(ProcError):
    """The deadline passed before what was waited for."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """One process in its own session; a thread per pipe collects its lines, so no wait blocks on a pipe.

    Its own session: a Ctrl-C meant for the parent does not reach it, and :meth:`kill` takes its whole
    process group. ``out`` holds stdout (with stderr when ``merge``), ``err`` stderr otherwise;
    ``times`` when each line of ``out`` arrived (``time.monotonic``). ``echo`` sees every line as it comes.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        name: str | None = None,
        stdin: bool = False,
        merge: bool = True,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.out: list[str] = []
        self.err: list[str] = []
        self.times: list[float] = []
        self.started = time.monotonic()
        self._echo = echo
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge else subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        self.pid = self.popen.pid
        pipes = [(self.popen.stdout, self.out)] + ([] if merge else [(self.popen.stderr, self.err)])
        self._readers = [threading.Thread(target=self._read, args=p, daemon=True) for p in pipes]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe: IO[str], sink: list[str]) -> None:
        for raw in pipe:
            line = raw.rstrip("\n")
            if self._echo is not None:
                self._echo(line)
            with self._cond:
                sink.append(line)
                if sink is self.out:
                    self.times.append(time.monotonic())
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def done_reading(self) -> bool:
        """Exited, and every line it wrote has been read."""
        return self.popen.poll() is not None and not any(r.is_alive() for r in self._readers)

    def wait_until(self, found: Callable[[], T | None], deadline: float, what: str) -> T:
        """``found()`` (called with the lines locked) once it is not None; ProcError or ProcTimeout else."""
        with self._cond:
            while True:
                value = found()
                if value is not None:
                    return value
                if self.done_reading():
                    raise ProcError(f"{self.name} exited with {self.popen.returncode} before {what}: {self.tail()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProcTimeout(f"{self.name}: no {what} in time")
                self._cond.wait(min(remaining, 0.5))

    def wait_for(
        self, pattern: str | re.Pattern[str], deadline: float, start: int = 0, err: bool = False
    ) -> tuple[int, re.Match[str]]:
        """The first line at index ``start`` or later (of stderr with ``err``) matching ``pattern``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        lines = self.err if err else self.out

        def found() -> tuple[int, re.Match[str]] | None:
            for index in range(start, len(lines)):
                match = regex.search(lines[index])
                if match:
                    return index, match
            return None

        return self.wait_until(found, deadline, f"a line matching {regex.pattern!r}")

    def tail(self, n: int = 4, width: int = 800) -> str:
        """Its last non-blank lines, on one line (for error messages)."""
        return " | ".join([line for line in self.out + self.err if line.strip()][-n:])[-width:]

    def send(self, line: str) -> None:
        """One line to its standard input (``stdin=True``)."""
        assert self.popen.stdin is not None
        self.popen.stdin.write(line.rstrip("\n") + "\n")
        self.popen.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then :meth:`kill` if it has not exited after ``timeout`` seconds; its exit code."""
        self.signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)
        self.kill()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL to its process group while it runs, reap it, close its pipes."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        for reader in self._readers:
            reader.join(2)
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
