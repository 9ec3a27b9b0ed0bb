"""The spec's Prometheus metrics, on a registry of their own per app.

Each app's metrics live on a private ``CollectorRegistry``: a metric created
on prometheus_client's global ``REGISTRY`` raises "Duplicated timeseries" as
soon as a second app is built in one process (every app-per-test suite, every
app factory). How they reach a ``/metrics`` endpoint is :mod:`.exporter`'s job.

Labelled series are created at zero for every endpoint when the app is built,
so a dashboard or an ``absent()`` alert sees them from start-up, not from the
first request after each deploy. No tenant or agent ids are ever used as
labels: series cardinality would grow with the customer base.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Milliseconds: an analytics query spans cache-miss SQL on big tenants.
#: Why a read meant for the replica went elsewhere (see read_routing.py).
READ_FALLBACK_REASONS = ("unreachable", "resting", "behind")
#: Where counting API calls can fail: in the request hook, sending to Redis, adding to the table.
CALL_PATTERN_ERROR_STAGES = ("capture", "push", "flush")
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
    read_fallbacks: Counter
    call_pattern_errors: Counter

    @property
    def by_endpoint(self) -> tuple[Histogram | Counter, ...]:
        """The metrics labelled by ``endpoint``."""
        return (self.query_duration_ms, self.cache_hits, self.cache_misses, self.cache_errors)


def build_metrics(endpoints: Iterable[str]) -> AnalyticsMetrics:
    """Create the metrics on a fresh registry, every ``endpoint`` series at zero."""
    registry = CollectorRegistry()
    metrics = AnalyticsMetrics(
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
        # Under gunicorn (multiprocess mode) each worker writes its own value:
        # the most recent run's duration wins, and every worker reports the
        # database's last successful run, so the highest is the true one.
        job_duration_ms=Gauge(
            "agentidp_analytics_aggregation_job_duration_ms",
            "Runtime of the last nightly aggregation job in milliseconds.",
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        job_last_run=Gauge(
            "agentidp_analytics_aggregation_job_last_run",
            "Unix timestamp of the last successful aggregation job run (0: none yet).",
            registry=registry,
            multiprocess_mode="max",
        ),
        job_failures=Counter(
            "agentidp_analytics_aggregation_job_failures_total",
            "Days whose roll-up failed and was rolled back (retried on the next run).",
            registry=registry,
        ),
        read_fallbacks=Counter(
            "agentidp_analytics_read_fallbacks_total",
            "Reads the read replica did not serve: 'unreachable' (failed), 'resting' (skipped after a failure), "
            "'behind' (lagging more than allowed). Each went to the primary, or answered 503 without fallback.",
            ["reason"],
            registry=registry,
        ),
        call_pattern_errors=Counter(
            "agentidp_analytics_call_pattern_errors_total",
            "Failures while counting the host's API calls, by stage: 'capture' (the request hook; that call "
            "is not counted), 'push' (Redis did not take a batch; it stays in the process and is re-sent), "
            "'flush' (the table did not take a batch; it is retried).",
            ["stage"],
            registry=registry,
        ),
    )
    for stage in CALL_PATTERN_ERROR_STAGES:
        metrics.call_pattern_errors.labels(stage=stage)
    for reason in READ_FALLBACK_REASONS:
        metrics.read_fallbacks.labels(reason=reason)
    for endpoint in endpoints:
        for metric in metrics.by_endpoint:
            metric.labels(endpoint=endpoint)
    return metrics
