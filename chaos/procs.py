"""The processes of a scenario (tools/procs.py): a :class:`Fleet` starts them and, whatever happened, SIGKILLs
and reaps every one when the scenario ends (each runs in its own process group, which the kill takes whole)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from types import TracebackType

from tools.procs import Proc, ProcTimeout

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"ready on|^READY\b")
#: every process any fleet started in this run (to prove all were reaped)
STARTED: list[Proc] = []


def not_reaped() -> list[int]:
    return [p.pid for p in STARTED if p.alive()]


def rss_mib(pid: int) -> float | None:
    """VmRSS of a live process in MiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


class Fleet:
    """The processes of one scenario, under its hard deadline; leaving the ``with`` block kills them all."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.children: list[Proc] = []

    def spawn(self, name: str, module: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        if time.monotonic() > self.deadline:
            raise ProcTimeout(f"deadline passed before starting {name}")
        environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        child = Proc([sys.executable, "-m", module, *args], env=environ, cwd=ROOT, name=name, stdin=True)
        self.children.append(child)
        STARTED.append(child)
        return child

    def controller(self, address: list[str]) -> Proc:
        child = self.spawn("controller", "daffi_controller", *address)
        child.wait_for(READY, self.deadline)
        return child

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for child in reversed(self.children):  # nodes before the controller
            child.kill()
