"""The controller's frame handling under coverage-guided fuzzing: a short, bounded run of the atheris target.

``hatch run chaos:fuzz`` is the long run (docs/reliability-fuzz.md). This runs the same target
(chaos/fuzz_target.py and chaos/fuzz_socket.py, under libFuzzer in a child process: gRPC streams and
socket-transport connections on one switchboard) on the seed corpus and mutations of it, with a fixed
libFuzzer seed, and fails on any crash: an exception out of a stream handler or a socket protocol
callback, a broken invariant (registry, routing tables, batch sizes, forwarded bytes, the socket
framing written, how a refused connection ends, tokens), an unpickled payload. Planted bugs show that
a crash does fail it; the regression seeds of bugs not fixed yet still fail without their tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ROOT

RUNS = 2000
#: Seeds of bugs this harness found in the socket transport (docs/reliability-fuzz.md), replayed one by one.
REGRESSION_SEEDS = ["socket-closed-while-paused", "socket-refused-node-stays"]


def _fuzz(work: Path, *args: str) -> tuple[int, str]:
    argv = [sys.executable, "-m", "chaos.fuzz", "--seed", "1", "--runs", str(RUNS), "--work", str(work), *args]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=100)
    return done.returncode, done.stdout + done.stderr


def test_fuzz_target_runs_clean(tmp_path: Path) -> None:
    code, out = _fuzz(tmp_path)
    assert code == 0, out[-6000:]
    assert f"Done {RUNS} runs" in out, out[-3000:]
    assert not list((tmp_path / "artifacts").iterdir())
    summary = next(line for line in out.splitlines() if line.startswith("[fuzz]") and "inputs" in line)
    print(f"FIGURE fuzz-unit: {summary.removeprefix('[fuzz] ')}")


@pytest.mark.parametrize("canary", ["leak", "raise", "token"])
def test_a_planted_bug_fails_the_run(tmp_path: Path, canary: str) -> None:
    code, out = _fuzz(tmp_path, "--canary", canary)
    assert code == 1, out[-3000:]
    assert "=== Uncaught Python exception: ===" in out and "InvariantViolation" in out, out[-3000:]
    assert list((tmp_path / "artifacts").glob("crash-*"))


@pytest.mark.parametrize("seed", REGRESSION_SEEDS)
def test_regression_seed_passes(seed: str) -> None:
    env = {**os.environ, "DAFFI_FUZZ_PLAIN": "1"}
    argv = [sys.executable, "-m", "chaos.fuzz_target", str(ROOT / "chaos" / "fuzz_corpus" / seed)]  # one input
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
