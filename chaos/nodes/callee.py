"""The callee of the ``calls`` and ``stream`` scenarios.

``add`` answers the calls. ``sink(seq, blob)`` is the slow stream consumer: it checks that
``seq`` is the next expected number and that ``blob`` is the bytes the sender derives from it,
and sleeps ``--pause-ms`` after every ``--pause-every`` items. ``stream_report`` tells what it saw.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from daffi import Global, callback

from chaos.nodes.common import connection


def blob_for(seq: int, size: int) -> bytes:
    """The payload of stream item ``seq`` (distinct per item, so a materialized stream would show)."""
    unit = seq.to_bytes(8, "little")
    return (unit * (size // 8 + 1))[:size]


class Received:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.expected = 0
        self.out_of_order = 0
        self.duplicates = 0
        self.missing = 0
        self.corrupt = 0
        self.first_at = 0.0
        self.last_at = 0.0
        self.pause_every = 1_000
        self.pause_s = 0.001

    def take(self, seq: int, blob: bytes) -> None:
        with self.lock:
            now = time.monotonic()
            if self.count == 0:
                self.first_at = now
            self.last_at = now
            self.count += 1
            if seq != self.expected:
                self.out_of_order += 1
                if seq < self.expected:
                    self.duplicates += 1
                else:
                    self.missing += seq - self.expected
            self.expected = max(self.expected, seq + 1)
            if blob != blob_for(seq, len(blob)):
                self.corrupt += 1
            pause = self.count % self.pause_every == 0
        if pause:
            time.sleep(self.pause_s)

    def report(self) -> dict[str, Any]:
        with self.lock:
            return {
                "received": self.count,
                "next_expected": self.expected,
                "out_of_order": self.out_of_order,
                "duplicates": self.duplicates,
                "missing": self.missing,
                "corrupt": self.corrupt,
                "consume_seconds": self.last_at - self.first_at,
            }


RECEIVED = Received()


@callback
def add(a: int, b: int) -> int:
    return a + b


@callback
def sink(seq: int, blob: bytes) -> None:
    RECEIVED.take(seq, blob)


@callback
def stream_report() -> dict[str, Any]:
    return RECEIVED.report()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("addr")
    parser.add_argument("--name", default="callee")
    parser.add_argument("--pause-every", type=int, default=1_000)
    parser.add_argument("--pause-ms", type=float, default=1.0)
    args = parser.parse_args()
    RECEIVED.pause_every = max(1, args.pause_every)
    RECEIVED.pause_s = args.pause_ms / 1000
    g = Global(process_name=args.name, **connection(args.addr))
    print("READY", flush=True)
    g.join()


if __name__ == "__main__":
    main()
