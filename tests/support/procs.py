"""Real processes for tests: controllers and service nodes, always reaped."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from daffi_core.address import Address
from daffi_core.transport import resolve_transport

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "tests" / "services"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Where:
    """A controller address and transport, as Global keyword arguments and as command-line options.

    ``transport`` None leaves the choice to ``"auto"`` (or ``$DAFFI_TRANSPORT``); ``carrier`` is
    what that resolves to.
    """

    host: str | None = None
    port: int | None = None
    unix_sock_path: str | None = None
    transport: str | None = None

    @property
    def kwargs(self) -> dict[str, object]:
        where: dict[str, object] = (
            {"unix_sock_path": self.unix_sock_path}
            if self.unix_sock_path is not None
            else {"host": self.host, "port": self.port}
        )
        return where if self.transport is None else {**where, "transport": self.transport}

    @property
    def argv(self) -> list[str]:
        where = (
            ["--unix-sock-path", self.unix_sock_path]
            if self.unix_sock_path is not None
            else ["--host", str(self.host), "--port", str(self.port)]
        )
        return where if self.transport is None else [*where, "--transport", self.transport]

    @property
    def carrier(self) -> str:
        """``"grpc"`` or ``"socket"``: the transport this address is spoken with."""
        return resolve_transport(self.transport, Address.resolve(self.host, self.port, self.unix_sock_path))


class Proc:
    """A child process whose output lines are collected by a thread, so waits never block on pipes."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.popen = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, needle: str, timeout: float = 30.0) -> str:
        """The first output line containing ``needle`` (from the start); fails after ``timeout``."""
        for line in list(self.lines):
            if needle in line:
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line with {needle!r} within {timeout} s from {self.argv}:\n{self.output}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"process ended without a line with {needle!r}: {self.argv}:\n{self.output}")
            if needle in line:
                return line

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT, then SIGKILL if it has not exited after ``timeout`` seconds."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._reader.join(5)
        return self.popen.returncode


class Procs:
    """Starts processes for one test and reaps all of them at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Proc] = []

    def spawn(self, *argv: str, env: dict[str, str] | None = None) -> Proc:
        """Any command, reaped with the others."""
        proc = Proc(argv, env=env)
        self.started.append(proc)
        return proc

    def python(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        return self.spawn(sys.executable, *args, env=env)

    def controller(self, where: Where, *extra: str, env: dict[str, str] | None = None) -> Proc:
        proc = self.python("-m", "daffi_controller", *where.argv, *extra, env=env)
        proc.wait_line("ready on")
        return proc

    def service(
        self, where: Where, name: str, script: str = "service.py", *extra: str, env: dict[str, str] | None = None
    ) -> Proc:
        """A node from tests/services running ``script``; returns once it is connected."""
        proc = self.python(str(SERVICES / script), "--name", name, *where.argv, *extra, env=env)
        proc.wait_line(f"READY {name}")
        return proc

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.stop(timeout=5)
