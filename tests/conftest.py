"""Shared fixtures: controller addresses (TCP and UNIX), process management, an in-test Global."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import Procs, Where, free_port


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    manager = Procs(tmp_path)
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture(params=["tcp", "unix"])
def where(request: pytest.FixtureRequest) -> Iterator[Where]:
    """A fresh controller address: TCP on 127.0.0.1 or a UNIX socket in a private directory."""
    if request.param == "tcp":
        yield Where(host="127.0.0.1", port=free_port())
    else:
        # AF_UNIX paths are limited to ~107 bytes: keep the directory short.
        with tempfile.TemporaryDirectory(prefix="daffi-") as tmp:
            yield Where(unix_sock_path=str(Path(tmp) / "ctl.sock"))


@pytest.fixture
def tcp() -> Where:
    return Where(host="127.0.0.1", port=free_port())


@pytest.fixture
def controller(procs: Procs, where: Where) -> Where:
    """A daffi-controller process listening at ``where``."""
    procs.controller(where)
    return where
