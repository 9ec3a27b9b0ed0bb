"""The spec's Prometheus metrics, built once per registry.

A custom metric on prometheus_client's global REGISTRY raises "Duplicated
timeseries" as soon as a second app is built in one process (every test run,
every app factory), so each app gets its own ``CollectorRegistry`` unless the
host hands one in. No tenant or agent ids are ever used as labels: they would
make series cardinality grow with the customer base.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Milliseconds: an analytics query spans cache-miss SQL on big tenants.
QUERY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@dataclass(frozen=True)
class AnalyticsMetrics:
    registry: CollectorRegistry
    query_duration_ms: Histogram
    cache_hits: Counter
    cache_misses: Counter
    cache_errors: Counter
    job_duration_ms: Gauge
    job_last_run: Gauge
    job_failures: Counter


def build_metrics(registry: CollectorRegistry | None = None) -> AnalyticsMetrics:
    """Create the metrics on ``registry`` (a fresh one when None)."""
    registry = registry if registry is not None else CollectorRegistry()
    return AnalyticsMetrics(
        registry=registry,
        query_duration_ms=Histogram(
            "agentidp_analytics_query_duration_ms",
            "Analytics query latency in milliseconds (cache misses only, before caching).",
            ["endpoint"],
            buckets=QUERY_BUCKETS_MS,
            registry=registry,
        ),
        cache_hits=Counter(
            "agentidp_analytics_cache_hits_total",
            "Analytics responses served from the cache.",
            ["endpoint"],
            registry=registry,
        ),
        cache_misses=Counter(
            "agentidp_analytics_cache_misses_total",
            "Analytics responses computed from the database.",
            ["endpoint"],
            registry=registry,
        ),
        cache_errors=Counter(
            "agentidp_analytics_cache_errors_total",
            "Cache backend failures; the response was served from the database.",
            ["endpoint"],
            registry=registry,
        ),
        job_duration_ms=Gauge(
            "agentidp_analytics_aggregation_job_duration_ms",
            "Runtime of the last nightly aggregation job in milliseconds.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        job_last_run=Gauge(
            "agentidp_analytics_aggregation_job_last_run",
            "Unix timestamp of the last successful aggregation job run.",
            registry=registry,
            multiprocess_mode="max",
        ),
        job_failures=Counter(
            "agentidp_analytics_aggregation_job_failures_total",
            "Days whose roll-up failed and was rolled back (retried on the next run).",
            registry=registry,
        ),
    )
