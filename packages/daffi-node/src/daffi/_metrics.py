"""The node's side of the calls as Prometheus families (``Global(metrics_port=P)``).

An ``Observer``: calls made by (callback, modifier, outcome), calls served by (callback,
outcome), their durations per callback and side, and what is in flight. Calls are opened and
settled on many threads, so the counters are updated under one lock.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from daffi_core.metrics import MetricsServer, counter, gauge, histogram
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.stats import DEFAULT_MODIFIER, Tally

from daffi._observe import Ended, Job, Served

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["NodeMetrics"]

_clock = time.perf_counter
MADE, SERVED = "made", "served"


class NodeMetrics:
    """Counts this node's calls; ``server`` serves them at ``/metrics`` once started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made = Tally()
        self._served = Tally()
        self._in_flight = {MADE: 0, SERVED: 0}
        self.server = MetricsServer(self.families, "daffi-node")

    # -- Observer
    def calling(self, head: pb.CallHead) -> Ended:
        name, modifier, started = head.name, head.modifier or DEFAULT_MODIFIER, _clock()
        with self._lock:
            self._in_flight[MADE] += 1

        def ended(outcome: str) -> None:
            with self._lock:
                self._in_flight[MADE] -= 1
                self._made.add((name, modifier, outcome), _clock() - started, (name, MADE))

        return ended

    def serving(self, head: pb.CallHead, caller: str) -> Served:
        with self._lock:
            self._in_flight[SERVED] += 1
        return _Serving(self, head.name)

    def _served_one(self, name: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self._in_flight[SERVED] -= 1
            self._served.add((name, outcome), seconds, (name, SERVED))

    # -- what the metrics server reads
    def families(self) -> list[Metric]:
        with self._lock:
            made, served = dict(self._made.calls), dict(self._served.calls)
            durations = {**self._made.durations, **self._served.durations}
            in_flight = dict(self._in_flight)
        return [
            counter(
                "daffi_node_calls_made",
                "Calls this node made that have ended, by callback, modifier and outcome",
                ("callback", "modifier", "outcome"),
                made,
            ),
            counter(
                "daffi_node_calls_served",
                "Calls this node served, by callback and outcome",
                ("callback", "outcome"),
                served,
            ),
            histogram(
                "daffi_node_call_duration_seconds",
                "Seconds a call took: made (sent to answered) or served (started to answered)",
                ("callback", "side"),
                durations,
            ),
            gauge(
                "daffi_node_calls_in_flight",
                "Calls open now, made or being served",
                ("side",),
                {(side,): n for side, n in in_flight.items()},
            ),
        ]


class _Serving:
    __slots__ = ("_metrics", "_name", "_started")

    def __init__(self, metrics: NodeMetrics, name: str) -> None:
        self._metrics = metrics
        self._name = name
        self._started = _clock()

    def scoped(self, job: Job) -> Job:
        return job

    def done(self, outcome: str) -> None:
        self._metrics._served_one(self._name, outcome, _clock() - self._started)
