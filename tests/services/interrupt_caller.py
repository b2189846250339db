"""A caller that blocks, for a test to interrupt with SIGINT (Ctrl-C).

Run: python interrupt_caller.py (--host H --port P | --unix-sock-path S) [--transport T] --mode MODE

Prints ``BLOCKING <mode>`` just before the statement that blocks (the test waits for the callee to
begin where there is one), then blocks until interrupted; the KeyboardInterrupt is left to Python
to report.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import time

from daffi import BG, FG, STREAM, Global, fetcher

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--unix-sock-path")
parser.add_argument("--transport")
MODES = ["fg", "bg", "bg-start", "fetcher", "iterate", "wait_function", "stream"]
parser.add_argument("--mode", required=True, choices=MODES)
args = parser.parse_args()
where = {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}

g = Global(process_name=f"interrupted-{args.mode}", transport=args.transport, **where)
g.wait_function("stuck", timeout=10)
if args.mode == "fg":
    print("BLOCKING fg", flush=True)
    g.call.stuck() & FG
elif args.mode == "bg":
    print("BLOCKING bg", flush=True)  # the test interrupts once the callee began: get() waits by then
    result = g.call.stuck() & BG
    result.get()
elif args.mode == "bg-start":
    # Ctrl-C while ``& BG`` is still starting the call, after it was sent: made certain by striking
    # from inside the last step before the AsyncResult is handed back.
    import daffi._execute

    def interrupting(*_: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt strikes here

    daffi._execute.AsyncResult = interrupting  # type: ignore[attr-defined,assignment]
    print("BLOCKING bg-start", flush=True)
    g.call.stuck() & BG
elif args.mode == "fetcher":

    @fetcher(FG)
    def stuck() -> None: ...

    print("BLOCKING fetcher", flush=True)
    stuck()
elif args.mode == "iterate":
    for item in g.call.drip() & FG:
        if item == 0:
            print("BLOCKING iterate", flush=True)  # then mostly waiting for the next item
elif args.mode == "wait_function":
    print("BLOCKING wait_function", flush=True)
    g.wait_function("never_offered")
else:
    print("BLOCKING stream", flush=True)
    g.call.slow_item(itertools.count()) & STREAM
