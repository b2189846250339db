"""Check that examples/seeds/* are verbatim copies of the seed documents' complete examples.

    hatch run check-seeds                 # the seed documents in ../shared/seeds beside the repository
    DAFFI_SEEDS_DIR=/path hatch run check-seeds

Each copy is one leading comment line (naming its section) plus a ```python code block of the seed
documents, unchanged. Exit 0 when every copy matches a block, 1 with a diff against the closest
block when one differs, 2 when the seed documents cannot be found. The seed documents stay outside
the repository: the test suite runs the copies and never needs them.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "examples" / "seeds"
SEEDS_ENV = "DAFFI_SEEDS_DIR"

#: The verbatim copies, relative to examples/seeds.
COPIES = [
    "01_quickstart/publisher.py",
    "01_quickstart/consumer.py",
    "02_args_from_body/consumer.py",
    "03_bidirectional/publisher.py",
    "03_bidirectional/consumer.py",
    "04_callback_and_fetcher/publisher.py",
    "04_callback_and_fetcher/consumer.py",
    "05_another_fetcher_syntax/consumer.py",
    "06_g_call/consumer.py",
]
#: Scripts of examples/seeds written for the tests, not copied: counterparts the seed leaves out.
NOT_COPIES = ["05_another_fetcher_syntax/publisher.py"]

BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def default_seeds_dir() -> Path:
    """``$DAFFI_SEEDS_DIR``, else ``../shared/seeds`` relative to the repository root."""
    configured = os.environ.get(SEEDS_ENV)
    return Path(configured) if configured else ROOT.parent / "shared" / "seeds"


def code_blocks(seeds_dir: Path) -> list[str]:
    """Every ```python block of the seed documents (``*.txt``), in file order."""
    return [
        block for doc in sorted(seeds_dir.glob("*.txt")) for block in BLOCK.findall(doc.read_text(encoding="utf-8"))
    ]


def check_copy(relative: str, blocks: list[str]) -> str | None:
    """None when ``examples/seeds/<relative>`` is a verbatim copy, else why not (with a diff)."""
    path = SEEDS / relative
    if not path.is_file():
        return f"{relative}: missing from examples/seeds"
    first, _, code = path.read_text(encoding="utf-8").partition("\n")
    if not first.startswith("# "):
        return f"{relative}: the first line must be the one comment line naming the section, not {first!r}"
    if code in blocks:
        return None
    closest = max(blocks, key=lambda block: difflib.SequenceMatcher(None, block, code).ratio())
    diff = difflib.unified_diff(
        closest.splitlines(keepends=True),
        code.splitlines(keepends=True),
        fromfile="closest block of the seed documents",
        tofile=f"examples/seeds/{relative} (without its first line)",
    )
    return f"{relative}: differs from every code block of the seed documents\n" + "".join(diff)


def unlisted() -> list[str]:
    """Scripts in examples/seeds that are neither a checked copy nor a known non-copy."""
    known = {*COPIES, *NOT_COPIES}
    return sorted(
        p.relative_to(SEEDS).as_posix() for p in SEEDS.rglob("*.py") if p.relative_to(SEEDS).as_posix() not in known
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check-seeds", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--seeds-dir",
        type=Path,
        default=None,
        help=f"folder of the seed documents (default: ${SEEDS_ENV}, else ../shared/seeds beside the repository)",
    )
    args = parser.parse_args(argv)
    seeds_dir: Path = args.seeds_dir or default_seeds_dir()
    blocks = code_blocks(seeds_dir) if seeds_dir.is_dir() else []
    if not blocks:
        print(
            f"check-seeds: error: no seed documents (*.txt with ```python blocks) at {seeds_dir}; "
            f"put them at ../shared/seeds beside the repository or set {SEEDS_ENV}",
            file=sys.stderr,
        )
        return 2
    problems = [problem for problem in (check_copy(relative, blocks) for relative in COPIES) if problem]
    problems += [f"{relative}: not listed in examples/check_seeds.py (COPIES or NOT_COPIES)" for relative in unlisted()]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"check-seeds: {len(problems)} problem(s) against {seeds_dir}", file=sys.stderr)
        return 1
    print(f"check-seeds: {len(COPIES)} copies in examples/seeds match the seed documents at {seeds_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
