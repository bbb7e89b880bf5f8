"""Prometheus metrics of the server: requests, latencies, and per-collection figures.

Each app has its own registry (tests start several). Request metrics are labelled by the route
*template* (``/collections/{name}/search``), never the raw path, so a scan of random URLs cannot
blow up the label set. Collection gauges are read at scrape time: row counts and versions live,
quantisation figures from the statistics cache (a scrape never triggers a measurement).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from lance_spiral._optional import require

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_GAUGES = (
    ("rows", "rows", "Rows in the collection."),
    ("bytes_per_vector", "bytes_per_vector", "Stored bytes per vector (codes and candidates)."),
    ("disk_bytes", "disk_bytes", "Bytes of the collection's folder (all versions)."),
    ("float32_bytes", "float32_bytes", "Bytes the same vectors take as float32."),
    ("compression_ratio", "compression_ratio", "float32 bytes over stored vector bytes."),
    ("resident_bytes", "resident_bytes", "Bytes held in RAM for search."),
    ("recall_at_10_estimate", "recall_at_10", "Measured recall@10 of the codec (sample)."),
    ("p50_ms", "search_p50_ms", "Median top-10 search latency at the measured version."),
    ("p95_ms", "search_p95_ms", "95th percentile top-10 search latency."),
)


class ServerMetrics:
    """A registry with the request counters/histograms and the collection collector.

    Args:
        collections: Returns ``[(name, live, cached_stats_or_None), ...]`` where ``live`` holds
            ``rows`` and ``version``.
    """

    def __init__(self, collections: Callable[[], list[tuple[str, dict[str, Any],
                                                             dict[str, Any] | None]]]) -> None:
        prom = require("prometheus_client", "server")
        self._prom = prom
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter(
            "lance_spiral_http_requests", "HTTP requests served.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = prom.Histogram(
            "lance_spiral_http_request_duration_seconds", "Time to serve a request.",
            ["method", "route"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0, 30.0))
        self._collections = collections
        self.registry.register(_CollectionCollector(self))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one served request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        """The exposition text."""
        data: bytes = self._prom.generate_latest(self.registry)
        return data


class _CollectionCollector:
    def __init__(self, owner: ServerMetrics) -> None:
        self._owner = owner

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        core = require("prometheus_client.core", "server")
        families = {key: core.GaugeMetricFamily(f"lance_spiral_collection_{metric}", doc,
                                                labels=["collection"])
                    for key, metric, doc in _GAUGES}
        version = core.GaugeMetricFamily("lance_spiral_collection_version",
                                         "Table version served.", labels=["collection"])
        for name, live, cached in self._owner._collections():
            version.add_metric([name], float(live["version"]))
            merged = {**(cached or {}), **live}
            for key, _, _ in _GAUGES:
                value = merged.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    families[key].add_metric([name], float(value))
        yield version
        yield from families.values()
