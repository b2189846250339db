"""UNIX socket paths over the system's limit fail when the address is resolved, on every side.

daffi-controller and daffi-codegen are run as real processes; ``Global`` (node, and node hosting
the controller) raises in-process before it starts anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daffi import Global, InitializationError
from daffi_core.address import MAX_UNIX_PATH_BYTES, Address

LIMIT = MAX_UNIX_PATH_BYTES


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="daffi-", dir="/tmp" if os.path.isdir("/tmp") else None) as tmp:
        yield Path(tmp)


def path_of_length(base: Path, size: int) -> Path:
    """``base/<x...>/ctl.sock`` exactly ``size`` bytes long (the folder is not created)."""
    filler = size - len(os.fsencode(base / "ctl.sock")) - 1
    assert filler > 0
    path = base / ("x" * filler) / "ctl.sock"
    assert len(os.fsencode(path)) == size
    return path


def long_tmpdir(base: Path) -> Path:
    """An existing folder long enough that ``<it>/daffi/.sock`` is over the limit."""
    folder = base / ("t" * (LIMIT - len(os.fsencode(base)) - len("/daffi/.sock")))
    folder.mkdir()
    assert len(os.fsencode(folder / "daffi" / ".sock")) == LIMIT + 1
    return folder


def test_the_limit_is_the_system_one() -> None:
    expected = 103 if sys.platform == "darwin" or "bsd" in sys.platform else 107
    assert expected == LIMIT


def test_path_at_the_limit_is_accepted_one_byte_more_is_not(short_tmp: Path) -> None:
    at_limit = path_of_length(short_tmp, LIMIT)
    assert Address.resolve(None, None, str(at_limit)).unix_path == at_limit
    over = path_of_length(short_tmp, LIMIT + 1)
    with pytest.raises(InitializationError) as info:
        Address.resolve(None, None, str(over))
    message = str(info.value)
    assert f"{over} is {LIMIT + 1} bytes long" in message, message
    assert f"limit of {LIMIT} bytes" in message, message
    assert "shorter unix_sock_path" in message, message


def test_relative_path_counts_as_the_absolute_path_it_binds(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = path_of_length(short_tmp, LIMIT).parent
    deep.mkdir()
    monkeypatch.chdir(deep)
    name = "s" * (LIMIT + 2 - len(os.fsencode(deep)) - 1)
    assert len(name) < 20
    with pytest.raises(InitializationError, match=f"is {LIMIT + 2} bytes long"):
        Address.resolve(None, None, name)  # short as given, too long as <cwd>/<name>


def test_socket_at_the_limit_binds(short_tmp: Path) -> None:
    """The limit is the real one: a socket of exactly LIMIT bytes binds (and is accepted above)."""
    path = path_of_length(short_tmp, LIMIT)
    path.parent.mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, pytest.raises(OSError):
        sock.bind(str(path) + "x")


def test_default_path_too_long_names_tmpdir(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = long_tmpdir(short_tmp)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    with pytest.raises(InitializationError) as info:
        Address.resolve(None, None, None)
    message = str(info.value)
    assert f"is {LIMIT + 1} bytes long" in message and "$TMPDIR" in message, message
    assert str(folder) in message, message


@pytest.mark.parametrize("init_controller", [False, True], ids=["node", "node+controller"])
def test_global_raises_at_once(short_tmp: Path, init_controller: bool) -> None:
    path = path_of_length(short_tmp, LIMIT + 20)
    started = time.monotonic()
    with pytest.raises(InitializationError, match=f"is {LIMIT + 20} bytes long, over the system's limit of {LIMIT}"):
        Global(process_name="too-long", init_controller=init_controller, unix_sock_path=str(path))
    assert time.monotonic() - started < 2
    assert not path.parent.exists(), "nothing is created for a refused path"


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=30, env={**os.environ, **(env or {})}
    )


def one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr
    return lines[0]


@pytest.mark.parametrize("transport", ["socket", "grpc"])
def test_controller_exits_with_one_line(short_tmp: Path, transport: str) -> None:
    path = path_of_length(short_tmp, LIMIT + 1)
    result = run(["-m", "daffi_controller", "--unix-sock-path", str(path), "--transport", transport])
    line = one_error_line(result, "daffi-controller: error: ")
    assert f"{path} is {LIMIT + 1} bytes long" in line and f"limit of {LIMIT} bytes" in line, line
    assert "--unix-sock-path" in line, line
    assert not path.parent.exists()


def test_controller_default_path_under_a_long_tmpdir(short_tmp: Path) -> None:
    folder = long_tmpdir(short_tmp)
    line = one_error_line(run(["-m", "daffi_controller"], {"TMPDIR": str(folder)}), "daffi-controller: error: ")
    assert f"{folder}/daffi/.sock is {LIMIT + 1} bytes long" in line, line
    assert "shorter $TMPDIR" in line, line
    assert not (folder / "daffi").exists()


def test_codegen_exits_with_one_line_without_waiting(short_tmp: Path) -> None:
    path = path_of_length(short_tmp, LIMIT + 1)
    out = short_tmp / "stubs"
    started = time.monotonic()
    result = run(["-m", "daffi_codegen", "--unix-sock-path", str(path), "--out", str(out), "--timeout", "20"])
    line = one_error_line(result, "daffi-codegen: error: ")
    assert time.monotonic() - started < 15, "it must fail before waiting for a controller"
    assert f"is {LIMIT + 1} bytes long" in line and "--unix-sock-path" in line, line
    assert not out.exists()
