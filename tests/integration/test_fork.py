"""A child forked from a process with a running node gets a clear error, never a deadlock."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.procs import Where

CHILD = textwrap.dedent(
    """
    import os, sys
    from daffi import FG, DaffiError, Global, InitializationError

    g = Global(process_name="parent", init_controller=True, **{kwargs})
    pid = os.fork()
    if pid == 0:
        try:
            g.call.whatever() & FG
            print("CHILD CALL WORKED?!", flush=True)
        except DaffiError as exc:
            print("CHILD CALL", type(exc).__name__, "forked" in str(exc), flush=True)
        try:
            Global(process_name="child", **{kwargs})
        except InitializationError as exc:
            print("CHILD GLOBAL", "spawn" in str(exc), flush=True)
        sys.exit(0)  # the inherited atexit stop() runs here and must return at once
    _, status = os.waitpid(pid, 0)
    print("PARENT sees child exit", os.waitstatus_to_exitcode(status), flush=True)
    print("PARENT still works:", g.registered_callbacks == {{}}, flush=True)
    g.stop()
    """
)


def test_forked_child_fails_clearly_and_exits(tcp: Where) -> None:
    script = CHILD.format(kwargs=repr(tcp.kwargs))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "CHILD CALL DaffiError True" in lines
    assert "CHILD GLOBAL True" in lines
    assert "PARENT sees child exit 0" in lines
    assert "PARENT still works: True" in lines
