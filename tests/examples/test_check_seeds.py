"""``hatch run check-seeds`` (examples/check_seeds.py) against seed documents made up in the test.

The real seed documents live outside the repository (``../shared/seeds``) and the suite never
reads them: these documents are synthetic prose around the code of the repository's own copies.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "examples" / "check_seeds.py"
SEEDS = REPO / "examples" / "seeds"


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_seeds", CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECKER = _load_checker()
COPIES: list[str] = CHECKER.COPIES


def write_docs(folder: Path, change: dict[str, tuple[str, str]] | None = None) -> Path:
    """Two made-up seed documents holding the code of every copy; ``change`` alters one block."""
    folder.mkdir(parents=True, exist_ok=True)
    blocks = []
    for relative in COPIES:
        code = (SEEDS / relative).read_text(encoding="utf-8").partition("\n")[2]
        if change and relative in change:
            old, new = change[relative]
            assert old in code
            code = code.replace(old, new, 1)
        blocks.append(f"Made-up prose before {relative}.\n\n```python\n{code}```\n\n```bash\npython x.py\n```\n")
    half = len(blocks) // 2
    (folder / "000_a.txt").write_text("\n".join(blocks[:half]), encoding="utf-8")
    (folder / "001_b.txt").write_text("\n".join(blocks[half:]), encoding="utf-8")
    return folder


def check(*args: str, seeds_env: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DAFFI_SEEDS_DIR"}
    if seeds_env is not None:
        env["DAFFI_SEEDS_DIR"] = str(seeds_env)
    return subprocess.run(
        [sys.executable, str(CHECK), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_copies_matching_the_documents_pass(tmp_path: Path) -> None:
    result = check(seeds_env=write_docs(tmp_path / "seeds"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 copies in examples/seeds match" in result.stdout


def test_a_differing_copy_fails_with_a_diff(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "seeds", {"06_g_call/consumer.py": ("Global, FG", "Global, BG")})
    result = check("--seeds-dir", str(docs))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "06_g_call/consumer.py: differs from every code block of the seed documents", result.stderr
    assert "-from daffi import Global, BG" in lines, result.stderr
    assert "+from daffi import Global, FG" in lines, result.stderr
    assert lines[-1] == f"check-seeds: 1 problem(s) against {docs}", result.stderr


def test_missing_documents_fail_with_where_to_put_them(tmp_path: Path) -> None:
    result = check(seeds_env=tmp_path / "nowhere")
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(tmp_path / "nowhere") in result.stderr
    assert "../shared/seeds" in result.stderr and "DAFFI_SEEDS_DIR" in result.stderr, result.stderr


def test_default_folder_is_beside_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $DAFFI_SEEDS_DIR the documents are read from ``<repo>/../shared/seeds``."""
    monkeypatch.delenv("DAFFI_SEEDS_DIR", raising=False)
    assert CHECKER.default_seeds_dir() == REPO.parent / "shared" / "seeds"
    monkeypatch.setenv("DAFFI_SEEDS_DIR", "/somewhere/else")
    assert CHECKER.default_seeds_dir() == Path("/somewhere/else")


def test_every_script_of_the_seeds_folder_is_accounted_for() -> None:
    """A new script in examples/seeds is either a checked copy or listed as written for the tests."""
    assert CHECKER.unlisted() == []
    assert len(COPIES) == len(set(COPIES)) and all((SEEDS / relative).is_file() for relative in COPIES)
