"""Configuration keys of the plugin, their defaults, and start-up validation.

Every key starts with ``ANALYTICS_`` and lives in the host's ``app.config``. All
defaults are set here, in one place, with ``setdefault`` so the host always
wins. Invalid settings fail at start-up with a message that says what to fix,
rather than as a 500 on the first request. ``ANALYTICS_ENABLED`` and
``ANALYTICS_FREE_TIER`` are read per request (the spec makes them runtime
flags); everything else is read once, when the plugin is set up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Where the plugin keeps its per-app state: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "agentidp_analytics"

DEFAULTS: dict[str, Any] = {
    # Runtime flags (spec "Feature Flags"), read on every request.
    "ANALYTICS_ENABLED": True,
    "ANALYTICS_FREE_TIER": False,
    # Who may see analytics, and how a request becomes a tenant.
    "ANALYTICS_PAID_TIERS": ("pro", "enterprise"),
    "ANALYTICS_API_TENANT_RESOLVER": None,
    "ANALYTICS_UI_TENANT_RESOLVER": None,
    # Host tables (the plugin reads them, never writes them).
    "ANALYTICS_TENANTS_TABLE": "tenants",
    "ANALYTICS_AGENTS_TABLE": "agents",
    "ANALYTICS_USAGE_EVENTS_TABLE": "usage_events",
    # Host layout.
    "ANALYTICS_BASE_TEMPLATE": "base.html",
    "ANALYTICS_NAV_CONFIG_KEY": "DASHBOARD_NAV",
    # Migrations: the host revision that creates the tables above.
    "ANALYTICS_MIGRATION_DEPENDS_ON": None,
    # Nightly roll-up.
    "ANALYTICS_SCHEDULER_ENABLED": True,
    "ANALYTICS_JOB_HOUR": 0,
    "ANALYTICS_JOB_MINUTE": 5,
    "ANALYTICS_REAGGREGATE_DAYS": 3,
    # Bounds on database waits, in seconds (see engines.py): reads serve requests, the job aggregates.
    "ANALYTICS_DB_STATEMENT_TIMEOUT": 5,
    "ANALYTICS_DB_LOCK_TIMEOUT": 2,
    "ANALYTICS_DB_CONNECT_TIMEOUT": 2,
    "ANALYTICS_DB_POOL_TIMEOUT": 2,
    "ANALYTICS_JOB_STATEMENT_TIMEOUT": 1800,
    "ANALYTICS_JOB_LOCK_TIMEOUT": 30,
    # Caching (spec "Redis Caching"): Redis when a URL is given, else in-process.
    "ANALYTICS_CACHE_REDIS_URL": None,
    "ANALYTICS_CACHE_TTL_SUMMARY": 60,
    "ANALYTICS_CACHE_TTL_DEFAULT": 300,
    # After a cache backend failure, serve from the database this many seconds before retrying it.
    "ANALYTICS_CACHE_RETRY_SECONDS": 5,
    # Rate limits (Flask-Limiter syntax).
    "ANALYTICS_RATELIMIT_ENABLED": True,
    "ANALYTICS_RATELIMIT": "120 per minute",
    "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "30 per minute",
    "ANALYTICS_RATELIMIT_STORAGE_URI": "memory://",
    # Prometheus: the registry the host's /metrics serves (None: prometheus_client's default).
    "ANALYTICS_METRICS_ENABLED": True,
    "ANALYTICS_METRICS_REGISTRY": None,
    # Where the plugin answers when no host route does (None: nowhere), and the
    # bearer token it then asks for (None: none).
    "ANALYTICS_METRICS_PATH": "/metrics",
    "ANALYTICS_METRICS_TOKEN": None,
    # Dashboard tab.
    "ANALYTICS_GALLERY_ENABLED": False,
    "ANALYTICS_ROTATION_STALE_DAYS": 30,
    "ANALYTICS_HEATMAP_AGENTS": 20,
}

_POSITIVE_INTS = (
    "ANALYTICS_CACHE_TTL_SUMMARY",
    "ANALYTICS_CACHE_TTL_DEFAULT",
    "ANALYTICS_ROTATION_STALE_DAYS",
    "ANALYTICS_HEATMAP_AGENTS",
)
_POSITIVE_SECONDS = (
    "ANALYTICS_DB_STATEMENT_TIMEOUT",
    "ANALYTICS_DB_LOCK_TIMEOUT",
    "ANALYTICS_DB_CONNECT_TIMEOUT",
    "ANALYTICS_DB_POOL_TIMEOUT",
    "ANALYTICS_JOB_STATEMENT_TIMEOUT",
    "ANALYTICS_JOB_LOCK_TIMEOUT",
)
_TABLE_KEYS = ("ANALYTICS_TENANTS_TABLE", "ANALYTICS_AGENTS_TABLE", "ANALYTICS_USAGE_EVENTS_TABLE")


def apply_defaults(config: dict[str, Any]) -> None:
    """Fill in every key the host did not set."""
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)


def validate(config: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the key and the fix for any invalid setting."""
    for key in _POSITIVE_INTS:
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{key} must be a positive integer, got {value!r}.")
    for key in _POSITIVE_SECONDS:
        value = config[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{key} must be a number of seconds > 0, got {value!r}.")
    days = config["ANALYTICS_REAGGREGATE_DAYS"]
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 366:
        raise ValueError(f"ANALYTICS_REAGGREGATE_DAYS must be an integer from 0 to 366, got {days!r}.")
    hour, minute = config["ANALYTICS_JOB_HOUR"], config["ANALYTICS_JOB_MINUTE"]
    if not (isinstance(hour, int) and 0 <= hour <= 23 and isinstance(minute, int) and 0 <= minute <= 59):
        raise ValueError(
            f"ANALYTICS_JOB_HOUR/ANALYTICS_JOB_MINUTE must be a UTC time of day, got {hour!r}:{minute!r}."
        )
    for key in _TABLE_KEYS:
        name = config[key]
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ValueError(f"{key} must be a plain table name (letters, digits, underscores), got {name!r}.")
    tiers = config["ANALYTICS_PAID_TIERS"]
    if isinstance(tiers, str) or not all(isinstance(t, str) for t in tiers):
        raise ValueError(f"ANALYTICS_PAID_TIERS must be a list of tier names, got {tiers!r}.")
    retry = config["ANALYTICS_CACHE_RETRY_SECONDS"]
    if not isinstance(retry, (int, float)) or isinstance(retry, bool) or retry < 0:
        raise ValueError(f"ANALYTICS_CACHE_RETRY_SECONDS must be a number of seconds >= 0, got {retry!r}.")
    registry = config["ANALYTICS_METRICS_REGISTRY"]
    if registry is not None and not all(callable(getattr(registry, m, None)) for m in ("register", "collect")):
        raise ValueError(
            f"ANALYTICS_METRICS_REGISTRY must be a prometheus_client CollectorRegistry or None, got {registry!r}."
        )
    token = config["ANALYTICS_METRICS_TOKEN"]
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ValueError("ANALYTICS_METRICS_TOKEN must be a non-empty string (the scraper's bearer token) or None.")
    path = config["ANALYTICS_METRICS_PATH"]
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ValueError(f"ANALYTICS_METRICS_PATH must be a URL path starting with '/' or None, got {path!r}.")
    for key in ("ANALYTICS_RATELIMIT", "ANALYTICS_RATELIMIT_UNAUTHENTICATED"):
        if not isinstance(config[key], str) or not config[key].strip():
            raise ValueError(f"{key} must be a Flask-Limiter rate string such as '120 per minute'.")
