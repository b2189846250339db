"""W1 "where the time goes": py-spy on caller, controller and callee while the caller measures.

py-spy samples Python stacks only (``--nonblocking``: the target is not paused). Native
threads that never run Python (gRPC's C-core pollers and executors) do not appear, so the
report sets py-spy's busy share beside the CPU time /proc gives for the whole process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tools.procs import Proc

RATE = 200

CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("uvloop", ("uvloop/",)),
    ("grpc (Python + Cython glue)", ("grpc/", "cygrpc", "_channel.py", "_server.py", ".pyx")),
    ("asyncio event loop", ("asyncio/",)),
    ("pickle / dill", ("pickle", "dill/")),
    ("protobuf", ("protobuf/", "_pb2")),
    ("threading / queues / futures", ("threading.py", "queue.py", "concurrent/")),
    ("daffi node", ("daffi/",)),
    ("daffi controller", ("daffi_controller/",)),
    ("daffi socket transport", ("daffi_core/transport/socket/",)),
    ("daffi core", ("daffi_core/",)),
    ("benchmark code", ("bench/",)),
)


def pyspy_binary() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    return shutil.which("py-spy")


def categorize(frame: str) -> str:
    for name, needles in CATEGORIES:
        if any(n in frame for n in needles):
            return name
    return "other"


def summarize(path: Path, duration: float) -> dict[str, Any]:
    """Busy share and top frames from py-spy's raw (collapsed) output."""
    leaf: Counter[str] = Counter()
    category: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        frames = [f for f in frames if not f.startswith(("thread", "process"))]
        if not frames:
            continue
        total += count
        threads[thread] += count
        leaf[_short(frames[-1])] += count
        category[categorize(frames[-1])] += count
        for f in set(frames):
            if "daffi" in f or "bench/" in f:
                inclusive[_short(f)] += count
    expected = duration * RATE
    return {
        "samples": total,
        "busy_cores": total / expected if expected else 0.0,
        "threads": {k: v / expected for k, v in threads.most_common(8)},
        "top_self": [(k, v / max(total, 1)) for k, v in leaf.most_common(10)],
        "categories": [(k, v / max(total, 1)) for k, v in category.most_common()],
        "top_inclusive": [(k, v / max(total, 1)) for k, v in inclusive.most_common(10)],
    }


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``func (file.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file, _, line = where.rpartition(":")
    parts = file.split("/")
    tail = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{name} ({tail}:{line})"


def pyspy_profiler(out_dir: Path, duration: float) -> Callable[[dict[str, int]], Callable[[], dict[str, Any]]]:
    """A ``Cell.profile`` hook: records every given pid for ``duration`` seconds."""
    binary = pyspy_binary()

    def start(pids: dict[str, int]) -> Callable[[], dict[str, Any]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        procs: dict[str, Proc] = {}
        if binary is None:
            return lambda: {"error": "py-spy not found"}
        for role, pid in pids.items():
            args = [binary, "record", "--pid", str(pid), "--duration", str(int(duration)), "--rate", str(RATE)]
            args += ["--format", "raw", "--threads", "--nonblocking", "--output", str(out_dir / f"{role}.txt")]
            procs[role] = Proc(args, merge=False)

        def collect() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for role, proc in procs.items():
                try:
                    proc.popen.wait(timeout=duration + 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out[role] = {"error": "py-spy timed out"}
                    continue
                proc.kill()  # reaped already: this joins its readers, so ``err`` is whole
                path = out_dir / f"{role}.txt"
                if proc.returncode != 0 or not path.exists():
                    out[role] = {"error": "\n".join(proc.err).strip()[-300:]}
                else:
                    out[role] = summarize(path, duration)
            return out

        return collect

    return start
