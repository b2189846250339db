"""Counting calls: outcomes, duration histograms. Shared by the controller and nodes.

Counting is a few dictionary operations per finished call on the routing path; the numbers are
read by tools (``inspect``) and turned into Prometheus families only when scraped
(``daffi_core.metrics``), so the hot path never touches prometheus-client.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["BUCKETS", "DEFAULT_MODIFIER", "ERROR", "OK", "STOPPED", "TIMEOUT", "Durations", "Tally", "outcome_of"]

#: Upper bounds (seconds) of the call-duration histogram: a loopback call takes tens of µs.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
OK, ERROR, TIMEOUT, STOPPED = "ok", "error", "timeout", "stopped"
#: The modifier of a call whose header names none (FG sends nothing: empty fields cost bytes).
DEFAULT_MODIFIER = "FG"
_OUTCOME_OF_ERROR = {pb.Error.TIMEOUT: TIMEOUT, pb.Error.REMOTE_STOPPED: STOPPED, pb.Error.CANCELLED: STOPPED}


def outcome_of(error: pb.Error | None) -> str:
    """The outcome label of a final reply carrying ``error`` (None: it succeeded)."""
    return OK if error is None else _OUTCOME_OF_ERROR.get(error.kind, ERROR)


@dataclass
class Durations:
    """A histogram: counts per bucket of ``BUCKETS`` (the last one: above them all), and the sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


class Tally:
    """Finished calls by label values (a tuple), with their total seconds and, per ``histogram_key``, durations."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, ...], int] = {}
        self.seconds: dict[tuple[str, ...], float] = {}
        self.durations: dict[tuple[str, ...], Durations] = {}

    def add(self, key: tuple[str, ...], seconds: float, histogram_key: tuple[str, ...]) -> None:
        """One call of ``key`` finished after ``seconds``; its duration goes to ``histogram_key``'s histogram."""
        self.calls[key] = self.calls.get(key, 0) + 1
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        durations = self.durations.get(histogram_key)
        if durations is None:
            durations = self.durations[histogram_key] = Durations()
        durations.observe(seconds)
