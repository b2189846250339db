"""The daffi demo: a controller and two nodes calling each other.

    python examples/demo/run.py [--rounds 5] [--timeout 90]

1. starts ``python -m daffi_controller --host 127.0.0.1 --port <free port>`` and waits for its
   "ready" line;
2. starts ``node_a.py`` and ``node_b.py``: each waits for the other, calls the other's callbacks
   and prints every result, then keeps serving;
3. once both report "finished", stops the nodes and then the controller with SIGINT and checks
   that every process exits with 0;
4. prints a summary. Exit code 0 when everything worked, 1 otherwise. Every step is bounded by a
   timeout and every child process is killed on any error.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

_OUTPUT = threading.Lock()


def say(text: str) -> None:
    """One whole line to stdout; reader threads of several children print at once."""
    with _OUTPUT:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


HERE = Path(__file__).resolve().parent
FINISHED = re.compile(r"^(node-[ab]): finished (\d+) calls, (\d+) failed$")


class DemoError(Exception):
    pass


class Child:
    """A child process whose merged stdout/stderr is echoed with a prefix and kept for matching."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,  # Ctrl-C on the demo reaches only run.py, which stops the children
        )
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            say(f"[{self.name}] {line}")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
        """The first output line matching ``pattern``; DemoError on exit or at the deadline."""
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    match = pattern.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise DemoError(f"{self.name} exited with {self.proc.returncode} before {pattern.pattern!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DemoError(f"{self.name}: no line matching {pattern.pattern!r} in time")
                self._cond.wait(min(remaining, 0.5))

    def interrupt_and_wait(self, timeout: float) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"{self.name} did not stop within {timeout} s of SIGINT") from None
        self._reader.join(5)
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(rounds: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    address = ["--host", "127.0.0.1", "--port", str(port)]
    children: list[Child] = []
    try:
        controller = Child("controller", [sys.executable, "-m", "daffi_controller", *address], env)
        children.append(controller)
        controller.wait_for(re.compile(r"ready", re.I), min(deadline, time.monotonic() + 30))

        nodes = [
            Child(name, [sys.executable, str(HERE / script), *address, "--rounds", str(rounds)], env)
            for name, script in (("node-a", "node_a.py"), ("node-b", "node_b.py"))
        ]
        children.extend(nodes)
        results = {}
        for node in nodes:
            match = node.wait_for(FINISHED, deadline)
            results[match.group(1)] = (int(match.group(2)), int(match.group(3)))

        # Both are done calling: stop the nodes first, then the controller.
        codes = {node.name: node.interrupt_and_wait(10) for node in nodes}
        codes["controller"] = controller.interrupt_and_wait(10)
    except DemoError as exc:
        say(f"DEMO FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("DEMO INTERRUPTED")
        return 1
    finally:
        for child in children:
            child.kill()

    say("demo summary:")
    say(f"  controller: 127.0.0.1:{port}, exit code {codes['controller']}")
    ok = codes["controller"] == 0
    for name in ("node-a", "node-b"):
        calls, failed = results[name]
        say(f"  {name}: {calls - failed}/{calls} calls ok, exit code {codes[name]}")
        ok = ok and failed == 0 and calls == 2 * rounds and codes[name] == 0
    say("DEMO OK" if ok else "DEMO FAILED")
    return 0 if ok else 1


def main() -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background by a non-interactive shell: the nodes would inherit the
        # ignored SIGINT and could not be stopped with it.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description="a daffi controller and two nodes calling each other")
    parser.add_argument("--rounds", type=int, default=5, help="calls per function and node")
    parser.add_argument("--timeout", type=float, default=90, help="bound for the whole demo, seconds")
    args = parser.parse_args()
    return run(args.rounds, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
