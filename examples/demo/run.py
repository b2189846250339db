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
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository's root: tools/procs.py, the process helper

from tools import procs  # noqa: E402
from tools.procs import free_port  # noqa: E402

_OUTPUT = threading.Lock()


def say(text: str) -> None:
    """One whole line to stdout; reader threads of several children print at once."""
    with _OUTPUT:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


FINISHED = re.compile(r"^(node-[ab]): finished (\d+) calls, (\d+) failed$")


class DemoError(Exception):
    pass


def start(name: str, args: list[str], env: dict[str, str]) -> procs.Proc:
    """A child whose merged output is echoed with a prefix; its own session, so Ctrl-C on the demo
    reaches only run.py, which stops the children."""
    return procs.Proc(args, env=env, name=name, echo=lambda line: say(f"[{name}] {line}"))


def wait_for(child: procs.Proc, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
    """The first output line matching ``pattern``; DemoError on exit or at the deadline."""
    try:
        return child.wait_for(pattern, deadline)[1]
    except procs.ProcError as exc:
        raise DemoError(str(exc)) from None


def interrupt_and_wait(child: procs.Proc, timeout: float) -> int:
    child.signal(signal.SIGINT)
    try:
        return child.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        raise DemoError(f"{child.name} did not stop within {timeout} s of SIGINT") from None


def run(rounds: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    address = ["--host", "127.0.0.1", "--port", str(port)]
    children: list[procs.Proc] = []
    try:
        controller = start("controller", [sys.executable, "-m", "daffi_controller", *address], env)
        children.append(controller)
        wait_for(controller, re.compile(r"ready", re.I), min(deadline, time.monotonic() + 30))

        nodes = [
            start(name, [sys.executable, str(HERE / script), *address, "--rounds", str(rounds)], env)
            for name, script in (("node-a", "node_a.py"), ("node-b", "node_b.py"))
        ]
        children.extend(nodes)
        results = {}
        for node in nodes:
            match = wait_for(node, FINISHED, deadline)
            results[match.group(1)] = (int(match.group(2)), int(match.group(3)))

        # Both are done calling: stop the nodes first, then the controller.
        codes = {node.name: interrupt_and_wait(node, 10) for node in nodes}
        codes["controller"] = interrupt_and_wait(controller, 10)
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
