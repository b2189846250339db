"""Schedules `tick` on the ticker node every second (PERIOD), then cancels it.

python scheduler.py [--port 8888]
"""

import argparse
import logging
import os
import time

from daffi import FG, PERIOD, Global, __body_unknown__, fetcher

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


@fetcher
def tick(label: str) -> None:
    __body_unknown__(label)


@fetcher(FG)
def tick_count() -> int:
    __body_unknown__()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=3, help="cancel after this many ticks")
    args, connection = parse_args(parser)

    with Global(process_name="scheduler", **connection) as g:
        g.wait_process("ticker", timeout=30)

        task = tick("heartbeat") & PERIOD(interval=1)  # runs on the ticker every second
        print(f"scheduled task {task.uuid}", flush=True)
        print(f"scheduled on ticker: {len(g.get_scheduled_tasks('ticker'))} task(s)", flush=True)

        deadline = time.monotonic() + 30
        while tick_count() < args.ticks and time.monotonic() < deadline:
            time.sleep(0.2)
        print(f"ticks before cancel: {tick_count()}", flush=True)

        task.cancel()
        print("task cancelled", flush=True)
        time.sleep(1.5)  # a tick already under way may still finish
        settled = tick_count()
        time.sleep(2.5)  # more than two intervals: no new tick may arrive
        after = tick_count()
        print(f"ticks after cancel: {settled} -> {after} ({'stopped' if settled == after else 'STILL RUNNING'})",
              flush=True)
