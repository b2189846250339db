"""Helpers for the daffi-codegen tests: run the command, run mypy, read and await the live catalog."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from daffi_codegen.collect import fetch_catalog
from daffi_core.address import Address

from tests.support.procs import ROOT, SERVICES, Where

#: The node the scenario tests start (tests/services/codegen_service.py) and its module name.
SERVICE = "codegen_service.py"
NODE = "codegen-svc"
MODULE = "codegen_svc"
#: Bound for one mypy run (the first one of a session fills the cache).
MYPY_TIMEOUT = 180


def codegen(where: Where | None, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m daffi_codegen`` against ``where`` (no address options when None)."""
    argv = [sys.executable, "-m", "daffi_codegen", *(where.argv if where else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def address(where: Where) -> Address:
    return Address.resolve(where.host, where.port, where.unix_sock_path)


def wait_catalog(where: Where, predicate: Callable[[set[str]], bool], timeout: float = 15.0) -> set[str]:
    """Poll the controller's catalog until ``predicate(process names)`` holds; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        names = {n.process_name for n in fetch_catalog(address(where), timeout=5).nodes}
        if predicate(names):
            return names
        if time.monotonic() > deadline:
            raise AssertionError(f"the controller's catalog still lists {sorted(names)} after {timeout} s")
        time.sleep(0.05)  # polling a remote registry: nothing local to wait on


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the whole session: daffi and its dependencies are analysed once."""
    return tmp_path_factory.mktemp("mypy-cache")


class Mypy:
    """``mypy --strict`` in a directory of its own, with tests/services (codegen_models) on MYPYPATH."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache

    def __call__(self, cwd: Path, *files: str) -> subprocess.CompletedProcess[str]:
        config = cwd / "mypy-codegen.ini"
        config.write_text("[mypy]\n")
        argv = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--config-file", str(config)]
        argv += ["--cache-dir", str(self.cache), "--no-color-output", "--no-error-summary", *files]
        env = {**os.environ, "MYPYPATH": str(SERVICES)}
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=MYPY_TIMEOUT)


@pytest.fixture
def mypy(mypy_cache: Path) -> Mypy:
    return Mypy(mypy_cache)


def run_client(cwd: Path, script: str, where: Where, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``cwd/script`` with the controller address as arguments, codegen_models importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), str(SERVICES)]), "PYTHONUNBUFFERED": "1"}
    where_args = [where.unix_sock_path] if where.unix_sock_path else [str(where.host), str(where.port)]
    argv = [sys.executable, str(cwd / script), *where_args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative name → bytes), caches excluded."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
