"""Process helpers for running the examples as real subprocesses.

Nothing here sleeps to synchronize: tests wait for output lines, for a listening socket or for a
process exit, always against a deadline. Every process started through the ``procs`` fixture is
interrupted (SIGINT), then killed (SIGKILL) and reaped at teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import procs as tools_procs  # not `procs`: the fixture below takes that name
from tools.procs import free_port

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "examples" / "seeds"
PROBE = Path(__file__).with_name("probe.py")

SEED_ADDRESS = 'host="localhost", port=8888'


class Proc(tools_procs.Proc):
    """A subprocess (tools/procs.py) whose stdout and stderr are kept apart; waits fail the test."""

    def __init__(self, name: str, args: list[str], cwd: Path, env: dict[str, str], joins: bool = False) -> None:
        super().__init__(args, env=env, cwd=cwd, name=name, merge=False)
        self.args = args
        self.joins = joins

    def describe(self) -> str:
        out = "\n".join(self.out[-80:])
        err = "\n".join(self.err[-80:])
        return (
            f"--- {self.name} (pid {self.pid}, returncode {self.popen.poll()}) {' '.join(self.args)}\n"
            f"--- stdout:\n{out}\n--- stderr:\n{err}\n"
        )

    def lines(self, stream: str = "stdout") -> list[str]:
        if stream == "stdout":
            return list(self.out)
        if stream == "stderr":
            return list(self.err)
        return self.out + self.err

    def matching(self, pattern: str, stream: str = "stdout") -> list[re.Match[str]]:
        regex = re.compile(pattern)
        return [m for m in (regex.search(line) for line in self.lines(stream)) if m]

    # Its own wait (a relative timeout, a stream, every match): tools/procs.py never calls wait_for itself.
    def wait_for(  # type: ignore[override]
        self, pattern: str, timeout: float, stream: str = "stdout", count: int = 1
    ) -> list[re.Match[str]]:
        """Wait until ``count`` lines of ``stream`` ("stdout", "stderr" or "any") match ``pattern``."""

        def found() -> list[re.Match[str]] | None:
            matches = self.matching(pattern, stream)
            return matches if len(matches) >= count else None

        try:
            return self.wait_until(found, time.monotonic() + timeout, f"{count} line(s) matching {pattern!r}")
        except tools_procs.ProcError as exc:
            pytest.fail(f"{exc} on {stream}\n" + self.describe())

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end by itself; fail the test if it does not."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout} s\n" + self.describe())
        for reader in self._readers:
            reader.join(5)
        return rc

    def assert_running_for(self, seconds: float) -> None:
        """Assert the process is still alive ``seconds`` from now (e.g. it settled in ``g.join()``)."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(seconds)
            pytest.fail(f"{self.name} exited although it should keep running\n" + self.describe())

    def wait_joined(self, timeout: float) -> None:
        """Wait until the process is in ``Global.join()``, which logs that it is serving."""
        self.wait_for(r"is serving; stop it with Ctrl-C or SIGTERM", timeout, stream="stderr")

    def interrupt(self, timeout: float = 10) -> int:
        """SIGINT (once in ``g.join()`` for a joining process), then wait for the exit."""
        if self.joins:
            self.wait_joined(timeout)
        self.signal(signal.SIGINT)
        return self.wait_exit(timeout)

    def expect_clean_exit(self, rc: int) -> None:
        assert rc == 0, f"{self.name} exited with {rc}\n" + self.describe()
        assert not self.matching("Traceback", "stderr"), f"{self.name} printed a traceback\n" + self.describe()


class Procs:
    """Starts processes for one test and cleans all of them up."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def start(
        self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None, joins: bool = False
    ) -> Proc:
        """Start ``python *args``; ``joins``: the script ends in ``g.join()`` and is stopped by SIGINT."""
        proc = Proc(name, [sys.executable, *args], cwd or REPO, env, joins)
        self.started.append(proc)
        return proc

    def describe_all(self) -> str:
        return "\n".join(p.describe() for p in self.started)

    def controller(self, transport: Transport, timeout: float = 30) -> Proc:
        """``python -m daffi_controller`` on the transport's address, once it logged "ready"."""
        controller = self.start("controller", ["-m", "daffi_controller", *transport.address_args()], transport.env())
        controller.wait_for(r"(?i)\bready\b", timeout, stream="any")
        return controller

    def probe(self, transport: Transport, *names: str, timeout: float = 30) -> None:
        """Run probe.py: a throw-away node that exits once every callback in ``names`` is registered."""
        args = [str(PROBE), *names, "--timeout", str(timeout)]
        if transport.kind == "tcp":
            args += ["--host", "127.0.0.1", "--port", str(transport.port)]
        probe = self.start("probe", args, transport.env())
        rc = probe.wait_exit(timeout + 15)
        assert rc == 0, "probe failed\n" + probe.describe()

    def cleanup(self) -> None:
        for proc in reversed(self.started):  # nodes before the controller that served them
            proc.stop(timeout=4)  # SIGINT, SIGKILL to the process group after a few seconds, reap


@pytest.fixture(scope="session", autouse=True)
def _sigint_not_ignored() -> Iterator[None]:
    """Children inherit an ignored SIGINT (pytest started in the background by a non-interactive
    shell) and then could not be stopped with it: give them the default disposition."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)


@pytest.fixture
def procs() -> Iterator[Procs]:
    registry = Procs()
    try:
        yield registry
    finally:
        registry.cleanup()


@dataclass
class Transport:
    """Where the processes of one test meet: a free TCP port on 127.0.0.1 or a private UNIX socket.

    ``tmpdir`` is a short private directory given to every child as TMPDIR, so the default socket
    ``<tempdir>/daffi/.sock`` is private to the test.
    """

    kind: str
    tmpdir: Path
    port: int | None = None

    @property
    def sock_path(self) -> Path:
        return self.tmpdir / "daffi" / ".sock"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("DAFFI_HOST", "DAFFI_PORT", "DAFFI_UNIX_SOCK_PATH"):
            env.pop(key, None)
        env["PYTHONUNBUFFERED"] = "1"
        env["TMPDIR"] = str(self.tmpdir)
        if self.kind == "tcp":
            env["DAFFI_HOST"] = "127.0.0.1"
            env["DAFFI_PORT"] = str(self.port)
        else:
            env["DAFFI_UNIX_SOCK_PATH"] = str(self.sock_path)
        return env

    def address_args(self) -> list[str]:
        if self.kind == "tcp":
            return ["--host", "127.0.0.1", "--port", str(self.port)]
        return ["--unix-sock-path", str(self.sock_path)]

    def adapt_seed(self, text: str) -> str:
        """The seed script with its address replaced (the only change made to a seed)."""
        assert SEED_ADDRESS in text, "seed script without the expected address"
        if self.kind == "tcp":
            return text.replace(SEED_ADDRESS, f'host="localhost", port={self.port}')
        # No host and port: the default UNIX socket, as the seed's note describes.
        return text.replace(SEED_ADDRESS + ", ", "").replace(SEED_ADDRESS, "")

    def copy_seed(self, relative: str, dest: Path) -> Path:
        """Copy ``examples/seeds/<relative>`` into ``dest`` with the address adapted."""
        source = SEEDS / relative
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.adapt_seed(source.read_text(encoding="utf-8")), encoding="utf-8")
        return target

    def wait_listening(self, timeout: float, watch: Proc | None = None) -> None:
        """Poll (with a deadline) until a controller accepts connections at this address."""
        deadline = time.monotonic() + timeout
        while True:
            family, target = (
                (socket.AF_INET, ("127.0.0.1", self.port))
                if self.kind == "tcp"
                else (socket.AF_UNIX, str(self.sock_path))
            )
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                try:
                    s.connect(target)
                    return
                except OSError:
                    pass
            if watch is not None and watch.returncode is not None:
                pytest.fail(f"{watch.name} exited before listening\n" + watch.describe())
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listening at {target} after {timeout} s\n" + (watch.describe() if watch else ""))
            time.sleep(0.05)  # poll interval, not a synchronization delay


def _short_tmpdir() -> Path:
    # UNIX socket paths are limited to ~107 bytes: keep the directory short.
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix="daffi-ex-", dir=base))


@contextlib.contextmanager
def make_transport(kind: str) -> Iterator[Transport]:
    tmpdir = _short_tmpdir()
    try:
        yield Transport(kind=kind, tmpdir=tmpdir, port=free_port() if kind == "tcp" else None)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.fixture(params=["tcp", "unix"])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    with make_transport(request.param) as t:
        yield t


@pytest.fixture
def tcp() -> Iterator[Transport]:
    with make_transport("tcp") as t:
        yield t


@pytest.fixture
def transport_factory() -> Iterator[Callable[[str], Transport]]:
    """Makes extra transports ("tcp" or "unix") inside one test; their folders go at teardown."""
    with contextlib.ExitStack() as stack:
        yield lambda kind: stack.enter_context(make_transport(kind))
