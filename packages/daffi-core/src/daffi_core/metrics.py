"""Serving counters as Prometheus text at ``/metrics`` (prometheus-client, an optional extra).

The controller and nodes keep plain numbers (``daffi_core.stats``); a ``MetricsServer`` asks a
``collect`` callable for metric families only when scraped, in the HTTP server's thread. That
callable must read the counters by copying them first (``dict(...)``: atomic in CPython), since
the loop keeps counting meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from daffi_core.errors import InitializationError
from daffi_core.stats import BUCKETS, Durations

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["DEFAULT_METRICS_HOST", "MetricsServer", "counter", "gauge", "histogram"]

Family = TypeVar("Family", "CounterMetricFamily", "GaugeMetricFamily")
#: The default host of a metrics endpoint: loopback, never every interface.
DEFAULT_METRICS_HOST = "127.0.0.1"


def _prometheus(extra: str) -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise InitializationError(
            f"serving metrics needs prometheus-client: pip install {extra}[metrics] (or prometheus-client)"
        ) from None
    return prometheus_client


class MetricsServer:
    """``/metrics`` on ``host:port`` (port 0: a free one, then in ``port``), served by a daemon thread."""

    def __init__(self, collect: Callable[[], Iterable[Metric]], extra: str) -> None:
        self._collect = collect
        self._extra = extra
        self._httpd: WSGIServer | None = None
        self.port = 0

    def start(self, host: str, port: int) -> int:
        """Listen and serve; the port listened on. InitializationError when the address is unusable."""
        prometheus_client = _prometheus(self._extra)
        registry = prometheus_client.CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self._collect))
        try:
            httpd, _thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise InitializationError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        self._httpd = httpd
        self.port = int(httpd.server_port)
        return self.port

    def close(self) -> None:
        """Stop serving and release the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            # shutdown() waits for serve_forever's next poll (up to 0.5 s): not on the caller's time.
            # The socket is closed after it, so the serving thread never polls a closed socket.
            threading.Thread(target=_shut, args=(httpd,), daemon=True, name="daffi-metrics-stop").start()


def _shut(httpd: WSGIServer) -> None:
    httpd.shutdown()
    httpd.server_close()


class _Collector:
    """A prometheus-client collector over a callable (prometheus-client's ``Collector`` protocol)."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def counter(name: str, doc: str, labels: Iterable[str], values: Mapping[tuple[str, ...], float]) -> Metric:
    """A counter family (``name`` without ``_total``) with one sample per label values."""
    from prometheus_client.core import CounterMetricFamily

    return _filled(CounterMetricFamily(name, doc, labels=list(labels)), values)


def gauge(name: str, doc: str, labels: Iterable[str], values: Mapping[tuple[str, ...], float]) -> Metric:
    """A gauge family with one sample per label values."""
    from prometheus_client.core import GaugeMetricFamily

    return _filled(GaugeMetricFamily(name, doc, labels=list(labels)), values)


def _filled(family: Family, values: Mapping[tuple[str, ...], float]) -> Family:
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def histogram(name: str, doc: str, labels: Iterable[str], values: Mapping[tuple[str, ...], Durations]) -> Metric:
    """A histogram family from ``Durations`` (cumulative buckets, as Prometheus wants them)."""
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, doc, labels=list(labels))
    for key, durations in sorted(values.items()):
        counts = list(durations.counts)
        buckets, running = [], 0
        for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        family.add_metric(list(key), buckets, durations.total)
    return family
