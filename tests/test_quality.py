"""The code checks run with the suite: mypy --strict, ruff check and ruff format over the whole repository."""

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
    """What ``hatch run lint`` runs: ``ruff check`` and ``ruff format --check`` over the same paths
    (the whole repository; ruff.toml leaves out generated code and the verbatim seeds)."""
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_lint_script_runs_both_checks_over_the_same_paths() -> None:
    """``hatch run lint`` is the two commands above (so the suite and the script agree)."""
    scripts = (ROOT / "hatch.toml").read_text(encoding="utf-8").split("[envs.default.scripts]", 1)[1]
    lint = next(line for line in scripts.splitlines() if line.startswith("lint = "))
    assert lint == 'lint = ["ruff check {args:.}", "ruff format --check {args:.}"]', lint


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """``.ci/run`` calls the README's test command as written (then only extra checks), strictly."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    demo, test = (block[i + 1] for i, line in enumerate(block) if line.startswith("# "))
    assert demo.endswith(" run demo:run") and test.endswith(" run test"), block
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "set -euo pipefail" in ci, ci
    commands = [line for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert commands[0] == test, (commands, test)
    assert all("hatch run " in line for line in commands[1:]), commands
    # The virtual environment the commands create stays out of git (ruff skips it too; pytest and
    # mypy only read their own paths: tests/, and the files of mypy.ini).
    assert ".venv/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
