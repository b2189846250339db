"""The code checks run with the suite: mypy --strict and ruff over the whole repository."""

from __future__ import annotations

import subprocess
import sys

from tests.support.procs import ROOT


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_strict_is_clean() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", "packages", "proto", "tests")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
