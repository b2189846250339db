"""stubs/ matches what daffi-codegen generates from the example services right now."""

from __future__ import annotations

import subprocess
import sys

from tests.support.procs import ROOT


def test_stubs_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "generate_stubs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, f"stubs/ is stale: run `hatch run stubs` and commit\n{result.stdout}{result.stderr}"
    assert "is up to date" in result.stdout
