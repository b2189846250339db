"""examples/testing_callers: the caller's unit test runs with fakes, and the same code runs for real.

mypy --strict checks the example with the rest of the repository (mypy.ini), tests/test_quality.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.examples.conftest import Procs, Transport

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "examples" / "testing_callers"


def test_the_unit_test_with_fakes_passes_without_a_controller() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(FOLDER / "test_consumer.py")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout


def test_the_readme_shows_the_fakes_as_the_example_runs_them() -> None:
    readme = (REPO / "README.md").read_text()
    body = (FOLDER / "test_consumer.py").read_text()
    block = body[body.index("    with fake_nodes() as nodes:") :].splitlines()
    for line in block:
        assert line.strip() in readme, f"README.md lacks the example's line {line.strip()!r}"


def test_the_code_under_test_runs_against_the_real_publisher(tcp: Transport, procs: Procs) -> None:
    controller = procs.controller(tcp)
    env = tcp.env()
    publisher = procs.start("publisher", [str(FOLDER / "publisher.py")], env, joins=True)
    publisher.wait_for(r"^publisher: ready$", 30)
    consumer = procs.start("consumer", [str(FOLDER / "consumer.py")], env)
    consumer.expect_clean_exit(consumer.wait_exit(30))
    assert "Result = 20" in consumer.lines(), consumer.describe()
    publisher.expect_clean_exit(publisher.interrupt(10))
    controller.expect_clean_exit(controller.interrupt(10))
