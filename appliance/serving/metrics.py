"""The service's Prometheus metrics, on a registry of its own (never the global one).

- ``appliance_http_requests_total{route, method, status}``: requests answered.
- ``appliance_http_request_duration_seconds{route}``: latency histogram, buckets from
  0.1 ms to 1 s (a scoring call takes about a millisecond; the batch routes longer).
- ``appliance_model_info{model, alias, version, scorer}``: 1 for each model alias being
  served; a hot swap replaces the alias's series, so only the serving version shows.
- ``appliance_prediction_log_queue_depth``: predictions waiting to be written; with
  ``track_prediction_log()`` also ``..._written_total``, ``..._dropped_total`` and
  ``..._healthy``.
- ``process_*``: the process's CPU, memory and open files (Linux).

``render()`` gives the text exposition format 0.0.4, which every Prometheus version
scrapes. ``route`` must be the route's template (``/v1/models/{name}/score``), never
the raw path, or every model name would make new series; past :data:`MAX_ROUTES`
distinct templates the rest are counted as ``other``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "MAX_ROUTES", "LogStats", "ServiceMetrics"]

LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
"""Seconds; fine below 10 ms, where the scoring routes' goals are."""
MAX_ROUTES = 100
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Spelled out: prometheus-client 0.22+ advertises text 1.0.0 as its latest; 0.0.4 is the
version every Prometheus server knows, and the body is the same for our metric names."""


class LogStats(Protocol):
    """What the metrics read from the prediction log."""

    @property
    def depth(self) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def healthy(self) -> bool: ...


class ServiceMetrics:
    """Counters, histogram and gauges for one running service."""

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "appliance_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "appliance_http_request_duration_seconds",
            "Time from request to response, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._model = Gauge(
            "appliance_model_info",
            "1 for each model alias being served, labelled with the version serving it.",
            ["model", "alias", "version", "scorer"],
            registry=self.registry,
        )
        self._queue = Gauge(
            "appliance_prediction_log_queue_depth",
            "Predictions submitted to the log and not yet written to the store.",
            registry=self.registry,
        )
        if process:
            ProcessCollector(registry=self.registry)
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._routes: set[str] = set()

    def observe_request(
        self, route_template: str, method: str, status: int, seconds: float
    ) -> None:
        """Count one answered request and its latency."""
        key = (route_template, method, status)
        children = self._children.get(key) or self._add_children(key)
        children[0].inc()
        children[1].observe(seconds)

    def _add_children(self, key: tuple[str, str, int]) -> tuple[Counter, Histogram]:
        route, method, status = key
        with self._lock:
            known = route in self._routes or len(self._routes) < MAX_ROUTES
            children = (
                self._requests.labels(
                    route=route if known else "other", method=method.upper(), status=str(status)
                ),
                self._latency.labels(route=route if known else "other"),
            )
            if known:  # an unknown route is not cached: that would grow without bound
                self._routes.add(route)
                self._children[key] = children
            return children

    def set_model(self, model: str, version: int, alias: str, scorer_kind: str) -> None:
        """Say which version serves ``model``'s ``alias`` now, replacing the previous one."""
        labels = (model, alias, str(version), scorer_kind)
        with self._lock:
            previous = self._models.get((model, alias))
            if previous is not None and previous != labels:
                self._model.remove(*previous)
            self._models[(model, alias)] = labels
            self._model.labels(*labels).set(1)

    def clear_model(self, model: str, alias: str) -> None:
        """The alias serves nothing any more (e.g. a challenger withdrawn)."""
        with self._lock:
            previous = self._models.pop((model, alias), None)
            if previous is not None:
                self._model.remove(*previous)

    def track_queue(self, depth: Callable[[], float]) -> None:
        """Read the prediction-log queue depth from ``depth()`` at every scrape."""
        self._queue.set_function(depth)

    def track_prediction_log(self, stats: LogStats) -> None:
        """Queue depth, written and dropped counts and health, read at every scrape."""
        self.track_queue(lambda: stats.depth)
        self.registry.register(_LogCollector(stats))

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE


class _LogCollector(Collector):
    def __init__(self, stats: LogStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "appliance_prediction_log_written",
            "Predictions written to the store.",
            value=self._stats.written,
        )
        yield CounterMetricFamily(
            "appliance_prediction_log_dropped",
            "Predictions lost on purpose: queue full, log closed, or refused by the store.",
            value=self._stats.dropped,
        )
        yield GaugeMetricFamily(
            "appliance_prediction_log_healthy",
            "1 while the prediction log's writes succeed, 0 while it retries a failing store.",
            value=int(self._stats.healthy),
        )
