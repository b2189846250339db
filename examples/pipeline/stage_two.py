"""Last stage of the pipeline: formats a value.

python stage_two.py [--port 8888]
"""

import argparse
import logging
import os

from daffi import Global, callback

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


@callback
def stage_two(value: int, origin: int) -> str:
    print(f"stage-two: formatting {value} (from {origin})", flush=True)
    return f"{origin} -> x2 -> +1 = {value}"


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))
    g = Global(process_name="stage-two", **connection)
    print("stage-two: ready", flush=True)
    g.join()
