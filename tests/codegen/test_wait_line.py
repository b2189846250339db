"""``daffi-codegen`` still waiting after a second says once what for, where, and for how long at most."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.codegen.conftest import NODE, SERVICE
from tests.support.procs import Procs, Where

WAITING = "INFO daffi.codegen: waiting for "


@pytest.fixture
def where() -> Iterator[Where]:
    """A private UNIX socket address, nobody listening yet (one transport: the waiting is the same on each)."""
    with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:
        yield Where(unix_sock_path=str(Path(tmp) / "ctl.sock"), transport="socket")


def test_a_late_controller_then_node(procs: Procs, where: Where) -> None:
    """One line while nothing listens; none more while it then waits for the node, which comes."""
    codegen = procs.python("-m", "daffi_codegen", *where.argv, "--list", "--wait-process", NODE, "--timeout", "60")
    line = codegen.wait_line(WAITING)
    assert line.endswith(f"waiting for the controller at {where.unix_sock_path} (up to 60 s)"), line
    procs.controller(where)
    procs.service(where, NODE, SERVICE)
    assert codegen.wait(60) == 0, codegen.output
    codegen.wait_line(f"{NODE}  add ")  # a row of the table: the output is read up to there
    assert sum(WAITING in text for text in codegen.lines) == 1, codegen.output


def test_a_node_that_never_comes(procs: Procs, where: Where) -> None:
    procs.controller(where)
    codegen = procs.python("-m", "daffi_codegen", *where.argv, "--list", "--wait-process", "ghost", "--timeout", "2")
    assert codegen.wait(30) == 2, codegen.output
    error = codegen.wait_line("daffi-codegen: error: ")
    assert error == "daffi-codegen: error: still waiting for ghost after 2 s", codegen.output
    waiting = [text for text in codegen.lines if WAITING in text]
    expected = f"waiting for ghost to connect to the controller at {where.unix_sock_path} (up to 2 s)"
    assert len(waiting) == 1 and waiting[0].endswith(expected), codegen.output
    assert "Traceback" not in codegen.output
