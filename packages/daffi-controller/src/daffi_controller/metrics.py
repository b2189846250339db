"""The controller's ``/metrics`` (``daffi-controller --metrics-port``): its counters as Prometheus families."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daffi_core.metrics import MetricsServer, counter, gauge, histogram

from daffi_controller.switchboard import Switchboard

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = ["families", "metrics_server"]


def families(board: Switchboard) -> list[Metric]:
    """Every family, read from ``board`` now (called in the metrics server's thread)."""
    tally = board.stats.tally
    nodes = list(board.registry.nodes.values())
    callbacks = {name for peer in nodes for name in list(peer.callbacks)}
    return [
        counter(
            "daffi_calls",
            "Calls routed to a final reply, by callback, modifier and outcome (ok, error, timeout, stopped); "
            "a BROADCAST counts once per receiver",
            ("callback", "modifier", "outcome"),
            dict(tally.calls),
        ),
        histogram(
            "daffi_call_duration_seconds",
            "Seconds from routing a call to its final reply",
            ("callback",),
            dict(tally.durations),
        ),
        gauge("daffi_calls_in_flight", "Calls routed and not answered yet", (), {(): board.router.open_calls}),
        gauge("daffi_nodes", "Connected nodes", (), {(): len(nodes)}),
        gauge("daffi_callbacks", "Distinct callback names offered by connected nodes", (), {(): len(callbacks)}),
        counter(
            "daffi_bytes",
            "Bytes received from nodes (in) and queued for them (out)",
            ("direction",),
            {("in",): board.bytes_in, ("out",): board.bytes_out},
        ),
        counter(
            "daffi_flow_control_pauses",
            "Times a sender was not read until a receiver it feeds had caught up",
            (),
            {(): board.stats.pauses},
        ),
    ]


def metrics_server(board: Switchboard) -> MetricsServer:
    """A not yet started server of ``board``'s metrics."""
    return MetricsServer(lambda: families(board), "daffi-controller")
