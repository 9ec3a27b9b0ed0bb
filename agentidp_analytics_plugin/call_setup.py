"""Wiring of the per-endpoint call counting: hook, buffer, Redis and the flush, for one app.

With ``ANALYTICS_CALL_PATTERNS_ENABLED`` off (the default) nothing is
installed: no hook runs on the host's requests. On, the app gets the request
hook of :mod:`.capture`, a per-process :class:`~.call_counts.CallCounts`
(shipping to Redis when ``ANALYTICS_CALL_PATTERNS_REDIS_URL`` or else
``ANALYTICS_CACHE_REDIS_URL`` is set, into the table otherwise), and
:func:`flush`, which the scheduler job and ``flask analytics
flush-call-patterns`` run to move Redis's counts into the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask

from .blueprint import BLUEPRINT_NAME
from .call_counts import CallCounts
from .call_flush import FlushReport, apply_batch, flush_redis
from .capture import CallCapture, tenant_only
from .host import load_resolver
from .redis_urls import redis_client

if TYPE_CHECKING:
    from .extension import AnalyticsState

log = logging.getLogger(__name__)

#: Seconds to wait for Redis when shipping counts (off the request path; a slow Redis delays only the shipper).
REDIS_TIMEOUT = 2.0


@dataclass
class CallPatterns:
    """The counting of one app: its buffer, its hook, its Redis client (None: counts go to the table)."""

    counts: CallCounts
    capture: CallCapture
    redis: Any | None


def redis_url(config: Any) -> str | None:
    return config["ANALYTICS_CALL_PATTERNS_REDIS_URL"] or config["ANALYTICS_CACHE_REDIS_URL"]


def install(app: Flask, state: AnalyticsState) -> CallPatterns | None:
    """Install the hook when the feature is on; None when it is off."""
    cfg = app.config
    if not cfg["ANALYTICS_CALL_PATTERNS_ENABLED"]:
        return None
    caller_attr = cfg["ANALYTICS_CALL_PATTERNS_CALLER_ATTR"]
    resolver = load_resolver(cfg["ANALYTICS_CALL_PATTERNS_RESOLVER"], "ANALYTICS_CALL_PATTERNS_RESOLVER")
    if resolver is None and caller_attr is None:
        if state.api_resolver is None:
            log.warning(
                "ANALYTICS_CALL_PATTERNS_ENABLED is on, but none of ANALYTICS_CALL_PATTERNS_CALLER_ATTR, "
                "ANALYTICS_CALL_PATTERNS_RESOLVER and ANALYTICS_API_TENANT_RESOLVER is set: nothing can tell the "
                "plugin who called, so no call is counted. Set one of them (see the README, 'Per-endpoint call "
                "patterns')."
            )
            return None
        resolver = tenant_only(state.api_resolver)
    url = redis_url(cfg)
    client = None
    if url:
        client = redis_client(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)

    def on_error(stage: str) -> None:
        state.metrics.call_pattern_errors.labels(stage=stage).inc()

    counts = CallCounts(
        client,
        lambda key, buckets: apply_batch(state.engine, state.tables, key, buckets),
        push_seconds=cfg["ANALYTICS_CALL_PATTERNS_PUSH_SECONDS"],
        flush_seconds=cfg["ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS"],
        on_error=on_error,
    )
    prefix = cfg["ANALYTICS_URL_PREFIX"]
    metrics_path = cfg["ANALYTICS_METRICS_PATH"] if cfg["ANALYTICS_METRICS_ENABLED"] else None

    def excluded_endpoint(endpoint: str) -> bool:
        # The plugin's own routes and static files.
        return endpoint == "static" or endpoint.startswith(BLUEPRINT_NAME + ".")

    def excluded_path(path: str) -> bool:
        # Unmatched requests under the plugin's prefix, and its /metrics (answered before routing).
        return path in (metrics_path, prefix) or path.startswith(prefix + "/")

    capture = CallCapture(counts, resolver, excluded_endpoint, excluded_path, on_error, caller_attr=caller_attr)
    capture.install(app)
    return CallPatterns(counts, capture, client)


def flush(state: AnalyticsState) -> FlushReport:
    """Ship this process's buffer, then move every Redis hash into the table (the job and the CLI)."""
    patterns = state.call_patterns
    if patterns is None:
        return FlushReport()
    patterns.counts.ship()
    if patterns.redis is None:
        return FlushReport()
    return flush_redis(patterns.redis, state.engine, state.tables)
