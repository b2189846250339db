"""The controller's frame handling under the fuzz target: its seed corpus, planted bugs, a short fuzzing run.

``hatch run chaos:fuzz`` is the long run (docs/reliability-fuzz.md). The target (chaos/fuzz_target.py and
chaos/fuzz_socket.py: gRPC streams and socket-transport connections on one switchboard) fails an input on
an exception out of a stream handler or a socket protocol callback, a broken invariant (registry, routing
tables, batch sizes, forwarded bytes, the socket framing written, how a refused connection ends, tokens),
an unpickled payload. The target decodes inputs in plain Python, so the seed corpus and the planted bugs
replay here without the fuzzing engine; only the run of mutated inputs needs atheris, which is installed
in the chaos environment (it has no wheels for every platform) and is skipped where it is not.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ROOT

RUNS = 2000
CORPUS = ROOT / "chaos" / "fuzz_corpus"
#: Seeds of bugs this harness found in the socket transport (docs/reliability-fuzz.md), replayed one by one.
REGRESSION_SEEDS = ["socket-closed-while-paused", "socket-refused-node-stays"]
needs_engine = pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None,
    reason="mutating inputs needs the fuzzing engine, atheris, installed in the chaos environment only"
    " (hatch run chaos:fuzz); the corpus replays above run without it",
)


def _replay(*paths: Path, canary: str = "") -> tuple[int, str]:
    env = {**os.environ, "DAFFI_FUZZ_PLAIN": "1", **({"DAFFI_FUZZ_CANARY": canary} if canary else {})}
    argv = [sys.executable, "-m", "chaos.fuzz_target", *map(str, paths)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    return done.returncode, done.stdout + done.stderr


def _fuzz(work: Path, *args: str) -> tuple[int, str]:
    argv = [sys.executable, "-m", "chaos.fuzz", "--seed", "1", "--runs", str(RUNS), "--work", str(work), *args]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=100)
    return done.returncode, done.stdout + done.stderr


def test_seed_corpus_replays_clean() -> None:
    code, out = _replay(CORPUS)
    assert code == 0, out[-6000:]
    played = [line for line in out.splitlines() if " steps: " in line]
    assert len(played) == len(list(CORPUS.iterdir())), out[-3000:]


@pytest.mark.parametrize("canary", ["leak", "raise", "token"])
def test_a_planted_bug_fails_a_seed(canary: str) -> None:
    code, out = _replay(CORPUS, canary=canary)
    assert code == 1, out[-3000:]
    assert "InvariantViolation" in out, out[-3000:]


@pytest.mark.parametrize("seed", REGRESSION_SEEDS)
def test_regression_seed_passes(seed: str) -> None:
    code, out = _replay(CORPUS / seed)
    assert code == 0, out[-3000:]


@needs_engine
def test_fuzz_target_runs_clean(tmp_path: Path) -> None:
    code, out = _fuzz(tmp_path)
    assert code == 0, out[-6000:]
    assert f"Done {RUNS} runs" in out, out[-3000:]
    assert not list((tmp_path / "artifacts").iterdir())
    summary = next(line for line in out.splitlines() if line.startswith("[fuzz]") and "inputs" in line)
    print(f"FIGURE fuzz-unit: {summary.removeprefix('[fuzz] ')}")


@needs_engine
@pytest.mark.parametrize("canary", ["leak", "raise", "token"])
def test_a_planted_bug_fails_the_run(tmp_path: Path, canary: str) -> None:
    code, out = _fuzz(tmp_path, "--canary", canary)
    assert code == 1, out[-3000:]
    assert "=== Uncaught Python exception: ===" in out and "InvariantViolation" in out, out[-3000:]
    assert list((tmp_path / "artifacts").glob("crash-*"))
