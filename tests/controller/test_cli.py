"""The ``daffi-controller`` command as a real process: ready line, signals, socket files, bind errors."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daffi import FG, Global

from tests.support.procs import Proc, Procs, Where, free_port

ERROR_PREFIX = "daffi-controller: error:"


def console_script() -> str:
    """The installed ``daffi-controller`` entry point of the interpreter running the tests."""
    found = shutil.which("daffi-controller", path=str(Path(sys.executable).parent)) or shutil.which("daffi-controller")
    assert found, "the daffi-controller console script is not installed"
    return found


def start(procs: Procs, argv: list[str], launcher: str = "module", env: dict[str, str] | None = None) -> Proc:
    """Start a controller (``python -m daffi_controller`` or the console script); reaped by ``procs``."""
    if launcher == "module":
        return procs.python("-m", "daffi_controller", *argv, env=env)
    proc = Proc([console_script(), *argv], env=env)
    procs.started.append(proc)
    return proc


def wait_exit(proc: Proc, timeout: float) -> tuple[int, float]:
    """The exit code and how long the process took to exit (fails after ``timeout`` s)."""
    began = time.monotonic()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{proc.argv} did not exit within {timeout} s:\n{proc.output}")
    return code, time.monotonic() - began


def assert_clean_error(proc: Proc, timeout: float = 15.0) -> str:
    """The process fails with exactly one ``daffi-controller: error:`` line and no traceback."""
    code, _ = wait_exit(proc, timeout)
    assert code != 0, proc.output
    errors = [line for line in proc.lines if line.startswith(ERROR_PREFIX)]
    assert len(errors) == 1, proc.output
    assert "Traceback" not in proc.output, proc.output
    assert "ready on" not in proc.output, proc.output
    return errors[0]


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A private directory with a short path (AF_UNIX paths are limited to ~107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:
        yield Path(tmp)


# ---------------------------------------------------------------- ready line and signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("launcher", ["module", "script"])
def test_ready_then_signal_exits_zero(procs: Procs, where: Where, launcher: str, sig: signal.Signals) -> None:
    proc = start(procs, where.argv, launcher)
    line = proc.wait_line("ready on", timeout=30)
    if where.unix_sock_path is not None:
        assert where.unix_sock_path in line
        assert stat.S_ISSOCK(os.stat(where.unix_sock_path).st_mode)
    else:
        assert f"{where.host}:{where.port}" in line
        with socket.create_connection((str(where.host), int(where.port or 0)), timeout=5):
            pass
    proc.signal(sig)
    code, took = wait_exit(proc, 10)
    assert code == 0, proc.output
    assert took < 5, f"took {took:.1f} s to stop"
    assert "Traceback" not in proc.output, proc.output
    if where.unix_sock_path is not None:
        assert not os.path.exists(where.unix_sock_path), "the socket file was left behind"


def test_controller_routes_calls(procs: Procs, where: Where) -> None:
    """The command is a working controller: a service node and this process talk through it."""
    proc = start(procs, where.argv, "script")
    proc.wait_line("ready on")
    procs.service(where, "svc")
    with Global(process_name="caller", **where.kwargs) as g:
        assert g.call.add(1, 2) & FG == 3


def test_default_unix_socket_path(procs: Procs, short_tmp: Path) -> None:
    """With neither --host nor --port: ``<tempdir>/daffi/.sock``, file 0600, directory 0700."""
    tmpdir = short_tmp / "t"
    tmpdir.mkdir()
    sock_dir = tmpdir / "daffi"
    sock = sock_dir / ".sock"
    proc = start(procs, [], env={"TMPDIR": str(tmpdir)})
    line = proc.wait_line("ready on")
    assert str(sock) in line
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert stat.S_IMODE(os.stat(sock_dir).st_mode) == 0o700, oct(os.stat(sock_dir).st_mode)
    procs.service(Where(unix_sock_path=str(sock)), "svc")
    with Global(process_name="caller", unix_sock_path=str(sock)) as g:
        assert g.call.add(2, 2) & FG == 4
    proc.signal(signal.SIGTERM)
    code, _ = wait_exit(proc, 10)
    assert code == 0, proc.output
    assert not sock.exists()


def test_port_only_listens_on_localhost(procs: Procs) -> None:
    port = free_port()
    proc = start(procs, ["--port", str(port)])
    proc.wait_line("ready on")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    listeners = listening_addresses(port)
    assert listeners and all(a.is_loopback for a in listeners), listeners


# ---------------------------------------------------------------- bind errors


def test_port_in_use_is_a_clean_error(procs: Procs) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(procs, ["--host", "127.0.0.1", "--port", str(port)])
        line = assert_clean_error(proc)
    assert str(port) in line


def test_port_in_use_console_script(procs: Procs) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_clean_error(start(procs, ["--host", "127.0.0.1", "--port", str(port)], "script"))


def test_second_controller_on_live_socket_is_refused(procs: Procs, short_tmp: Path) -> None:
    where = Where(unix_sock_path=str(short_tmp / "ctl.sock"))
    first = procs.controller(where)
    line = assert_clean_error(start(procs, where.argv))
    assert "already" in line, line
    # The first controller is untouched: its socket file is still there and it still routes calls.
    assert first.popen.poll() is None
    assert stat.S_ISSOCK(os.stat(where.unix_sock_path or "").st_mode)
    procs.service(where, "svc")
    with Global(process_name="caller", **where.kwargs) as g:
        assert g.call.add(20, 22) & FG == 42


def test_stale_socket_file_is_replaced(procs: Procs, short_tmp: Path) -> None:
    path = short_tmp / "ctl.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    where = Where(unix_sock_path=str(path))
    procs.controller(where)
    procs.service(where, "svc")
    with Global(process_name="caller", **where.kwargs) as g:
        assert g.call.add(1, 1) & FG == 2


def test_parent_is_a_regular_file(procs: Procs, short_tmp: Path) -> None:
    parent = short_tmp / "file"
    parent.write_text("not a directory")
    assert_clean_error(start(procs, ["--unix-sock-path", str(parent / "ctl.sock")]))
    assert parent.read_text() == "not a directory"


def test_path_is_a_regular_file(procs: Procs, short_tmp: Path) -> None:
    path = short_tmp / "ctl.sock"
    path.write_text("data")
    assert_clean_error(start(procs, ["--unix-sock-path", str(path)]))
    assert path.read_text() == "data", "a regular file must never be removed"


# ---------------------------------------------------------------- --host localhost


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the sockets listening on TCP ``port`` (from /proc/net/tcp and tcp6)."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # a dual-stack socket bound to ::ffff:127.0.0.1
            found.append(address)
    return found


def test_host_localhost_binds_loopback_only(procs: Procs) -> None:
    port = free_port()
    proc = start(procs, ["--host", "localhost", "--port", str(port)])
    proc.wait_line("ready on")
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    listeners = listening_addresses(port)
    assert listeners, "no listening socket found in /proc/net/tcp*"
    for address in listeners:
        assert address.is_loopback, f"listening on {address}, not loopback only: {listeners}"
        assert not address.is_unspecified
