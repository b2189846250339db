"""Broadcasts one call to every worker and prints the gathered results.

python caller.py --workers 3 [--port 8888]
"""

import argparse
import logging
import os

from daffi import BROADCAST, Global, __body_unknown__, fetcher

logging.basicConfig(level=logging.INFO)


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, dict]:
    """Add the connection options and return (arguments, keyword arguments for Global).

    --port (or DAFFI_PORT) selects TCP on --host (DAFFI_HOST, default localhost);
    otherwise --unix-sock-path (DAFFI_UNIX_SOCK_PATH) or the default UNIX socket is used.
    """
    parser.add_argument("--host", default=os.environ.get("DAFFI_HOST", "localhost"))
    parser.add_argument("--port", type=int, default=os.environ.get("DAFFI_PORT"))
    parser.add_argument("--unix-sock-path", default=os.environ.get("DAFFI_UNIX_SOCK_PATH"))
    args = parser.parse_args()
    if args.port:
        return args, {"host": args.host, "port": args.port}
    if args.unix_sock_path:
        return args, {"unix_sock_path": args.unix_sock_path}
    return args, {}


@fetcher  # no modifier here: it is given per call with `&`
def process_item(x: int) -> str:
    __body_unknown__(x)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=3, help="wait for worker-1 .. worker-N")
    args, connection = parse_args(parser)

    with Global(process_name="broadcaster", **connection) as g:
        for i in range(1, args.workers + 1):
            g.wait_process(f"worker-{i}", timeout=30)

        results = process_item(7) & BROADCAST  # {process_name: result} from every worker
        for name in sorted(results):
            print(f"{name} -> {results[name]}", flush=True)
        print(f"broadcast reached {len(results)} nodes", flush=True)

        # A modifier instance takes options.
        results = process_item(3) & BROADCAST(timeout=10)
        print(f"second broadcast: {sorted(results.values())}", flush=True)
