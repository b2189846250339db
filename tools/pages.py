"""Fills the tables of a docs page whose prose people edit; the harnesses' reports (bench/, chaos/) write through it.

A page marks each generated part with a pair of comments, e.g. for the benchmark's W2 table::

    <!-- bench:table w2 -->
    | implementation | ... |
    <!-- /bench:table -->

:func:`fill` replaces what stands between the two and nothing else, so the sentences around the
tables stay as their authors wrote them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: a marker pair, each comment on a line of its own (a page may mention the markers in its prose)
_MARKED = re.compile(r"^(<!-- (\w+):table ([\w-]+) -->)$(.*?)^(<!-- /\2:table -->)$", re.DOTALL | re.MULTILINE)
NOT_RUN = "_Not in this run._"


def fill(path: Path, prefix: str, tables: Mapping[str, str]) -> None:
    """Write ``tables`` into the ``prefix`` markers of ``path``; a marker without a table gets :data:`NOT_RUN`.

    Raises ValueError (and writes nothing) when a table has no marker in the page.
    """
    text = path.read_text(encoding="utf-8")
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        if match.group(2) != prefix:
            return match.group(0)
        seen.add(match.group(3))
        body = tables.get(match.group(3), NOT_RUN).strip("\n")
        return f"{match.group(1)}\n\n{body}\n\n{match.group(5)}"  # blank lines: Markdown ends the table there

    text = _MARKED.sub(replace, text)
    missing = set(tables) - seen
    if missing:
        raise ValueError(f"{path}: no <!-- {prefix}:table NAME --> marker for {sorted(missing)}")
    path.write_text(text, encoding="utf-8")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (a ``|`` in a cell is escaped)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What a run ran on: CPU model and count, memory, kernel, Python; ``summary`` in one line."""
    info: dict[str, Any] = {"cpu": "unknown CPU", "cores": os.cpu_count(), "memory_gib": 0.0}
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    uname = platform.uname()
    info["kernel"] = uname.release
    info["summary"] = (
        f"{info['cpu']}, {info['cores']} CPUs, {info['memory_gib']:.1f} GiB RAM; {uname.system} {uname.release}"
        f" {uname.machine}; Python {platform.python_version()}"
    )
    return info
