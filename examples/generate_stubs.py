"""Regenerate (or ``--check``) the typed stubs in ``stubs/`` from the example services.

Starts a controller on a private UNIX socket and one node of every example service, runs
``daffi-codegen`` against them, then stops everything. ``hatch run stubs`` runs it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tools/procs.py, the process helper
from tools.procs import Proc  # noqa: E402

#: (script, process name, extra arguments): one node per service whose callbacks get stubs.
SERVICES = [
    ("broadcast/worker.py", "worker", ["--name", "worker"]),
    ("class_callback/service.py", "inventory-service", []),
    ("period/ticker.py", "ticker", []),
    ("pipeline/stage_one.py", "stage-one", []),
    ("pipeline/stage_two.py", "stage-two", []),
    ("stream_from_callee/producer.py", "producer", []),
    ("stream_to_callee/receiver.py", "receiver", ["--name", "receiver"]),
    ("trio/callee.py", "trio-callee", []),
    ("testing_callers/publisher.py", "publisher", []),
]


def run(check: bool, timeout: float = 60.0) -> int:
    with tempfile.TemporaryDirectory(prefix="daffi-stubs-") as tmp:
        sock = str(Path(tmp) / "ctl.sock")
        env = {**os.environ, "DAFFI_UNIX_SOCK_PATH": sock, "PYTHONUNBUFFERED": "1"}
        env.pop("DAFFI_PORT", None)

        def start(*argv: str) -> Proc:
            return Proc(argv, env=env, merge=True)

        children = [start(sys.executable, "-m", "daffi_controller", "--unix-sock-path", sock)]
        try:
            codegen = [sys.executable, "-m", "daffi_codegen", "--unix-sock-path", sock, "--out", str(ROOT / "stubs")]
            # The controller must be up before nodes connect to it; the codegen call below waits for both.
            subprocess.run(
                [*codegen[:5], "--list", "--timeout", str(timeout)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                timeout=timeout + 5,
            )
            for script, _, extra in SERVICES:
                children.append(start(sys.executable, str(ROOT / "examples" / script), *extra))
            waits = [arg for _, name, _ in SERVICES for arg in ("--wait-process", name)]
            args = [*codegen, *waits, "--timeout", str(timeout), *(["--check"] if check else [])]
            return subprocess.run(args, env=env, timeout=timeout + 30).returncode
        finally:
            for child in reversed(children):
                child.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when stubs/ is stale")
    raise SystemExit(run(parser.parse_args().check))
