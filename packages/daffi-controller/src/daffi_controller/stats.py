"""The controller's counters: finished calls, bytes and flow-control pauses (see ``daffi_core.stats``)."""

from __future__ import annotations

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.stats import Tally

__all__ = ["Stats"]


class Stats:
    """Finished calls by (callback, modifier, outcome) with durations per callback; bytes; pauses."""

    def __init__(self) -> None:
        self.tally = Tally()
        #: Bytes of nodes that have left (connected nodes keep their own counts: ``Peer``).
        self.bytes_in_gone = 0
        self.bytes_out_gone = 0
        self.pauses = 0

    def finished(self, callback: str, modifier: str, outcome: str, seconds: float) -> None:
        """One call (or one receiver of a BROADCAST) got its final reply after ``seconds``."""
        self.tally.add((callback, modifier, outcome), seconds, (callback,))

    def counts(self) -> list[pb.CallCount]:
        """The finished calls as protobuf, sorted."""
        seconds = self.tally.seconds
        return [
            pb.CallCount(callback=key[0], modifier=key[1], outcome=key[2], count=n, seconds=seconds[key])
            for key, n in sorted(dict(self.tally.calls).items())
        ]
