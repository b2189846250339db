"""Real processes for tests: controllers and service nodes, always reaped (on tools/procs.py)."""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from daffi_core.address import Address
from daffi_core.transport import resolve_transport

from tools import procs
from tools.procs import free_port

__all__ = ["ROOT", "SERVICES", "Proc", "Procs", "Where", "WhereKwargs", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "tests" / "services"


class WhereKwargs(TypedDict, total=False):
    """``Where.kwargs``: the address keywords of ``Global`` (either ``unix_sock_path`` or ``host`` and ``port``)."""

    host: str | None
    port: int | None
    unix_sock_path: str | None
    transport: str


@dataclass(frozen=True)
class Where:
    """A controller address and transport, as Global keyword arguments and as command-line options.

    ``transport`` None leaves the choice to ``"auto"`` (or ``$DAFFI_TRANSPORT``); ``carrier`` is
    what that resolves to. ``cluster`` (NATS): the client ports of the other servers of the
    cluster at ``port``; each process started with ``argv`` goes to the next server in turn
    (starting with the first of those), while ``kwargs`` (the test's own node) stays at ``port``,
    so the test's calls cross the cluster's routes.
    """

    host: str | None = None
    port: int | None = None
    unix_sock_path: str | None = None
    transport: str | None = None
    cluster: tuple[int, ...] = ()
    _turn: Iterator[int] = field(default_factory=itertools.count, compare=False, repr=False)

    @property
    def kwargs(self) -> WhereKwargs:
        where: WhereKwargs = (
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
            else ["--host", str(self.host), "--port", str(self._next_port())]
        )
        return where if self.transport is None else [*where, "--transport", self.transport]

    def _next_port(self) -> int | None:
        if not self.cluster:
            return self.port
        ports = [*self.cluster, self.port]
        return ports[next(self._turn) % len(ports)]

    @property
    def carrier(self) -> str:
        """``"grpc"`` or ``"socket"``: the transport this address is spoken with."""
        return resolve_transport(self.transport, Address.resolve(self.host, self.port, self.unix_sock_path))


class Proc(procs.Proc):
    """A child process (tools/procs.py) started with unbuffered output; waits raise AssertionError."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        super().__init__(argv, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=cwd)

    @property
    def lines(self) -> list[str]:
        return self.out

    @property
    def output(self) -> str:
        return "\n".join(self.out)

    def wait_line(self, needle: str, timeout: float = 30.0) -> str:
        """The first output line containing ``needle`` (from the start); fails after ``timeout``."""
        try:
            index, _ = self.wait_for(re.escape(needle), time.monotonic() + timeout)
        except procs.ProcError as exc:
            raise AssertionError(f"{exc}\nno line with {needle!r} from {self.argv}:\n{self.output}") from None
        return self.out[index]

    def wait(self, timeout: float = 15.0) -> int:
        """Its exit code once it has exited and all its output is read (TimeoutExpired after ``timeout``)."""
        code = self.popen.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code


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
