"""A throw-away node that exits 0 once the named callbacks are registered with the controller.

    python probe.py NAME [NAME ...] [--host H --port P] [--timeout S]

Without --port it uses the default UNIX socket (``<TMPDIR>/daffi/.sock``). The tests use it to
know when a seed publisher is ready before starting the seed consumer, which calls at once.
"""

from __future__ import annotations

import argparse
import os
import sys

from daffi import Global


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    address = {"host": args.host, "port": args.port} if args.port else {}
    g = Global(process_name=f"probe-{os.getpid()}", **address)
    try:
        for name in args.names:
            g.wait_function(name, timeout=args.timeout)
            print(f"probe: {name} is available", flush=True)
    finally:
        g.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
