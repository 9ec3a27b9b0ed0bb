"""Configuration keys of the plugin, their defaults, and start-up validation.

Every key starts with ``ANALYTICS_`` and lives in the host's ``app.config``. All
defaults are set here, in one place, with ``setdefault`` so the host always
wins. Invalid settings fail at start-up with a message that names the key and
says what to fix, rather than as a 500 (or silently wrong behaviour) on the
first request. Values read from the environment arrive as strings, so flags,
numbers and lists are parsed here and stored back as real values:
``"false"`` is False, never a truthy string; ``"lots"`` is not a rate limit.

``ANALYTICS_ENABLED`` and ``ANALYTICS_FREE_TIER`` are read per request (the
spec makes them runtime flags) through :func:`runtime_flag`, which parses a
value the host sets at runtime the same way; everything else is read once,
when the plugin is set up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from limits import parse_many
from limits.storage import SCHEMES as LIMITER_STORAGE_SCHEMES
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .redis_urls import parse_redis_url

log = logging.getLogger(__name__)

#: Where the plugin keeps its per-app state: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY = "agentidp_analytics"

DEFAULTS: dict[str, Any] = {
    # Runtime flags (spec "Feature Flags"), read on every request.
    "ANALYTICS_ENABLED": True,
    "ANALYTICS_FREE_TIER": False,
    # Who may see analytics, and how a request becomes a tenant.
    "ANALYTICS_PAID_TIERS": ("pro", "enterprise"),
    # How the copy names tiers: {"growth": "Growth"}; a tier without an entry is capitalised.
    "ANALYTICS_TIER_NAMES": {},
    # Where the upgrade panel's call to action leads (a URL or a path); None hides it.
    "ANALYTICS_UPGRADE_URL": None,
    # The host's sign-in view (an endpoint name for url_for) and the query parameter it reads the
    # page to come back to from; None: signed-out visitors get a 401 page in the host's layout.
    "ANALYTICS_LOGIN_ENDPOINT": None,
    "ANALYTICS_LOGIN_NEXT_PARAM": "next",
    "ANALYTICS_API_TENANT_RESOLVER": None,
    "ANALYTICS_UI_TENANT_RESOLVER": None,
    # Host tables (the plugin reads them, never writes them).
    "ANALYTICS_TENANTS_TABLE": "tenants",
    "ANALYTICS_AGENTS_TABLE": "agents",
    "ANALYTICS_USAGE_EVENTS_TABLE": "usage_events",
    # Host layout: where the API and the tab live, the template the tab extends.
    "ANALYTICS_URL_PREFIX": "/analytics",
    "ANALYTICS_BASE_TEMPLATE": "base.html",
    "ANALYTICS_NAV_CONFIG_KEY": "DASHBOARD_NAV",
    # Migrations: the host revision that creates the tables above.
    "ANALYTICS_MIGRATION_DEPENDS_ON": None,
    # Nightly roll-up.
    "ANALYTICS_SCHEDULER_ENABLED": True,
    "ANALYTICS_JOB_HOUR": 0,
    "ANALYTICS_JOB_MINUTE": 5,
    "ANALYTICS_REAGGREGATE_DAYS": 3,
    # Large installs (see docs/deployment.md): monthly partitions made this many months ahead (on the
    # partitioned layout), and the days of aggregates kept (None: all).
    "ANALYTICS_PARTITIONS_AHEAD": 3,
    "ANALYTICS_RETENTION_DAYS": None,
    # Bounds on database waits, in seconds (see engines.py): reads serve requests, the job aggregates.
    "ANALYTICS_DB_STATEMENT_TIMEOUT": 5,
    "ANALYTICS_DB_LOCK_TIMEOUT": 2,
    "ANALYTICS_DB_CONNECT_TIMEOUT": 2,
    "ANALYTICS_DB_POOL_TIMEOUT": 2,
    "ANALYTICS_JOB_STATEMENT_TIMEOUT": 1800,
    "ANALYTICS_JOB_LOCK_TIMEOUT": 30,
    # A read replica for the requests' reads (see read_routing.py): a URL, or the name of a
    # Flask-SQLAlchemy bind; where reads go when it fails or lags; how long a failed one rests.
    "ANALYTICS_READ_DATABASE_URL": None,
    "ANALYTICS_READ_BIND": None,
    "ANALYTICS_READ_FALLBACK": True,
    "ANALYTICS_READ_MAX_LAG_SECONDS": 300,
    "ANALYTICS_READ_RETRY_SECONDS": 10,
    # Caching (spec "Redis Caching"): Redis when a URL is given, else in-process.
    "ANALYTICS_CACHE_REDIS_URL": None,
    "ANALYTICS_CACHE_TTL_SUMMARY": 60,
    "ANALYTICS_CACHE_TTL_DEFAULT": 300,
    # Call patterns change with every flush of the counts (ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS).
    "ANALYTICS_CACHE_TTL_CALL_PATTERNS": 60,
    # After a cache backend failure, serve from the database this many seconds before retrying it.
    "ANALYTICS_CACHE_RETRY_SECONDS": 5,
    # With Redis: bytes of answers each process keeps in front of it (near_cache.py); 0: none.
    "ANALYTICS_CACHE_LOCAL_MAX_BYTES": 64 * 2**20,
    # Rate limits (Flask-Limiter syntax).
    "ANALYTICS_RATELIMIT_ENABLED": True,
    "ANALYTICS_RATELIMIT": "120 per minute",
    "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "30 per minute",
    # Per tenant, the tab's page and panel fragments (each panel load runs the API's queries).
    "ANALYTICS_RATELIMIT_UI": "600 per minute",
    "ANALYTICS_RATELIMIT_STORAGE_URI": "memory://",
    # Prometheus: the registry the host's /metrics serves (None: prometheus_client's default).
    "ANALYTICS_METRICS_ENABLED": True,
    "ANALYTICS_METRICS_REGISTRY": None,
    # Where the plugin answers when no host route does (None: nowhere), and the
    # bearer token it then asks for (None: none).
    "ANALYTICS_METRICS_PATH": "/metrics",
    "ANALYTICS_METRICS_TOKEN": None,
    # Per-endpoint call patterns (see capture.py): an opt-in hook on the host's requests, who the
    # caller is (None: the API tenant resolver, no agent), where counts wait (None: the cache's Redis,
    # if any), how often each process ships them there, and how often they go into the table.
    "ANALYTICS_CALL_PATTERNS_ENABLED": False,
    "ANALYTICS_CALL_PATTERNS_RESOLVER": None,
    # The attribute of flask.g where the host's authentication leaves (tenant_id, agent_id): read by the
    # hook itself, the cheapest way to say who called (instead of ANALYTICS_CALL_PATTERNS_RESOLVER).
    "ANALYTICS_CALL_PATTERNS_CALLER_ATTR": None,
    "ANALYTICS_CALL_PATTERNS_REDIS_URL": None,
    "ANALYTICS_CALL_PATTERNS_PUSH_SECONDS": 1.0,
    "ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS": 60.0,
    # Dashboard tab.
    "ANALYTICS_GALLERY_ENABLED": False,
    "ANALYTICS_ROTATION_STALE_DAYS": 30,
    "ANALYTICS_HEATMAP_AGENTS": 20,
    # Insights: an agent with no activity for this many days is dormant; a day with fewer failed
    # token requests than this is never a failure spike, however quiet the agent's history.
    "ANALYTICS_DORMANT_DAYS": 30,
    "ANALYTICS_INSIGHT_MIN_FAILURES": 5,
}

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})

BOOLEAN_KEYS = (
    "ANALYTICS_ENABLED",
    "ANALYTICS_FREE_TIER",
    "ANALYTICS_SCHEDULER_ENABLED",
    "ANALYTICS_RATELIMIT_ENABLED",
    "ANALYTICS_METRICS_ENABLED",
    "ANALYTICS_GALLERY_ENABLED",
    "ANALYTICS_READ_FALLBACK",
    "ANALYTICS_CALL_PATTERNS_ENABLED",
)
_POSITIVE_SECONDS = (
    "ANALYTICS_DB_STATEMENT_TIMEOUT",
    "ANALYTICS_DB_LOCK_TIMEOUT",
    "ANALYTICS_DB_CONNECT_TIMEOUT",
    "ANALYTICS_DB_POOL_TIMEOUT",
    "ANALYTICS_JOB_STATEMENT_TIMEOUT",
    "ANALYTICS_JOB_LOCK_TIMEOUT",
    "ANALYTICS_CALL_PATTERNS_PUSH_SECONDS",
    "ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS",
)
#: Integer keys and their (lowest, highest) allowed values.
INTEGER_KEYS: dict[str, tuple[int, int | None]] = {
    "ANALYTICS_CACHE_TTL_SUMMARY": (1, None),
    "ANALYTICS_CACHE_TTL_DEFAULT": (1, None),
    "ANALYTICS_CACHE_TTL_CALL_PATTERNS": (1, None),
    "ANALYTICS_CACHE_LOCAL_MAX_BYTES": (0, None),
    "ANALYTICS_ROTATION_STALE_DAYS": (1, None),
    "ANALYTICS_HEATMAP_AGENTS": (1, None),
    "ANALYTICS_DORMANT_DAYS": (1, 3650),
    "ANALYTICS_INSIGHT_MIN_FAILURES": (1, None),
    "ANALYTICS_REAGGREGATE_DAYS": (0, 366),
    "ANALYTICS_PARTITIONS_AHEAD": (1, 24),
    "ANALYTICS_JOB_HOUR": (0, 23),
    "ANALYTICS_JOB_MINUTE": (0, 59),
}
RATE_LIMIT_KEYS = ("ANALYTICS_RATELIMIT", "ANALYTICS_RATELIMIT_UNAUTHENTICATED", "ANALYTICS_RATELIMIT_UI")
_TABLE_KEYS = ("ANALYTICS_TENANTS_TABLE", "ANALYTICS_AGENTS_TABLE", "ANALYTICS_USAGE_EVENTS_TABLE")


def apply_defaults(config: MutableMapping[str, Any]) -> None:
    """Fill in every key the host did not set."""
    for key, value in DEFAULTS.items():
        config.setdefault(key, value)


def parse_bool(key: str, value: Any) -> bool:
    """A real bool, 0/1, or "true/false/1/0/yes/no/on/off" in any case; anything else is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(
        f"{key} must be a boolean: True or False, or one of the strings "
        f"'true', 'false', '1', '0', 'yes', 'no', 'on', 'off' (any case); got {value!r}."
    )


def parse_int(key: str, value: Any, lowest: int, highest: int | None = None) -> int:
    """An int, or a string of one (from the environment), within [lowest, highest]."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    if number is None or number < lowest or (highest is not None and number > highest):
        bounds = f"from {lowest} to {highest}" if highest is not None else f">= {lowest}"
        raise ValueError(f"{key} must be an integer {bounds}, got {value!r}.")
    return number


def parse_retention(value: Any) -> int | None:
    """Days of aggregates to keep: None (or "none", "off", "") keeps all; else at least a week."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off")):
        return None
    return parse_int("ANALYTICS_RETENTION_DAYS", value, 7)


def parse_seconds(key: str, value: Any, *, allow_zero: bool = True) -> float:
    """A number of seconds (int, float or numeric string)."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            seconds = None
    if seconds is None or seconds != seconds or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{key} must be a number of seconds {'>= 0' if allow_zero else '> 0'}, got {value!r}.")
    return seconds


def parse_rate_limit(key: str, value: Any) -> str:
    """A Flask-Limiter rate string, checked with the parser Flask-Limiter itself uses."""
    try:
        if not isinstance(value, str) or not parse_many(value):
            raise ValueError
    except ValueError:
        raise ValueError(
            f"{key} must be a rate limit such as '120 per minute' or '10/second; 1000/day', got {value!r}."
        ) from None
    return value


def parse_tiers(key: str, value: Any) -> tuple[str, ...]:
    """Tier names: a list, or a comma-separated string from the environment."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(t, str) for t in value):
        raise ValueError(f"{key} must be a list of tier names (or 'pro,enterprise'), got {value!r}.")
    tiers = tuple(t.strip() for t in value if t.strip())
    if not tiers:
        raise ValueError(f"{key} must name at least one tier, got {value!r}.")
    return tiers


def parse_tier_names(key: str, value: Any) -> dict[str, str]:
    """Tier -> display name: a mapping, or ``"growth=Growth,scale=Scale Plus"`` from the environment."""
    if isinstance(value, str):
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        value = dict(pairs) if all(len(pair) == 2 for pair in pairs) else None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip() for k, v in value.items()
    ):
        raise ValueError(
            f"{key} must map tiers to display names: a dict such as {{'growth': 'Growth'}}, "
            f"or the string 'growth=Growth,scale=Scale Plus'; got {value!r}."
        )
    return {k.strip(): v.strip() for k, v in value.items()}


def _check_link(key: str, value: Any) -> None:
    """A URL (http, https) or a path on the host: where a link in the tab leads."""
    if value is None:
        return
    parts = urlsplit(value) if isinstance(value, str) else None
    is_url = parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)
    is_path = parts is not None and not parts.scheme and not parts.netloc and value.startswith("/")
    if not (is_url or is_path) or any(c.isspace() for c in value):
        raise ValueError(
            f"{key} must be an http(s) URL such as 'https://idp.example/billing' or a path such as "
            f"'/billing', or None; got {value!r}."
        )


def _check_storage_uri(key: str, value: Any) -> None:
    scheme = urlsplit(value).scheme if isinstance(value, str) else ""
    if scheme not in LIMITER_STORAGE_SCHEMES or scheme.startswith("async+"):
        raise ValueError(
            f"{key} must be a Flask-Limiter storage URI such as 'memory://' or 'redis://host:6379/1', got {value!r}."
        )


def _check_redis_url(key: str, value: Any) -> None:
    try:
        parse_redis_url(value)
    except ValueError as exc:
        raise ValueError(
            f"{key} must be a Redis URL such as 'redis://host:6379/0', 'redis+sentinel://host:26379/service' or "
            f"'redis+cluster://host:7000,host:7001', or None, got {value!r} ({exc})."
        ) from None


def _check_read_replica(config: MutableMapping[str, Any]) -> None:
    url, bind = config["ANALYTICS_READ_DATABASE_URL"], config["ANALYTICS_READ_BIND"]
    if url is not None and bind is not None:
        raise ValueError(
            "Set ANALYTICS_READ_DATABASE_URL or ANALYTICS_READ_BIND, not both: they name the same replica."
        )
    if url is not None:
        try:
            if not isinstance(url, str):
                raise ValueError("not a string")
            make_url(url)
        except (ValueError, ArgumentError) as exc:
            raise ValueError(
                "ANALYTICS_READ_DATABASE_URL must be a SQLAlchemy URL such as "
                f"'postgresql+psycopg://reader@replica/idp' or None, got {url!r} ({exc})."
            ) from None
    if bind is not None and (not isinstance(bind, str) or not bind.strip()):
        raise ValueError(f"ANALYTICS_READ_BIND must be the name of a SQLALCHEMY_BINDS entry or None, got {bind!r}.")


def _check_caller_attr(config: MutableMapping[str, Any]) -> None:
    attr = config["ANALYTICS_CALL_PATTERNS_CALLER_ATTR"]
    if attr is None:
        return
    if not isinstance(attr, str) or not attr.isidentifier():
        raise ValueError(
            "ANALYTICS_CALL_PATTERNS_CALLER_ATTR must be the name of the flask.g attribute where the host's "
            f"authentication leaves (tenant_id, agent_id) (e.g. 'api_caller'), or None; got {attr!r}."
        )
    if config["ANALYTICS_CALL_PATTERNS_RESOLVER"] is not None:
        raise ValueError(
            "Set ANALYTICS_CALL_PATTERNS_CALLER_ATTR or ANALYTICS_CALL_PATTERNS_RESOLVER, not both: each says who "
            "called, and the plugin would not know which to believe."
        )


def validate(config: MutableMapping[str, Any]) -> None:
    """Check every key; store parsed values back. Raises ``ValueError`` naming the key and the fix."""
    for key in BOOLEAN_KEYS:
        config[key] = parse_bool(key, config[key])
    for key, (lowest, highest) in INTEGER_KEYS.items():
        config[key] = parse_int(key, config[key], lowest, highest)
    for key in _POSITIVE_SECONDS:
        config[key] = parse_seconds(key, config[key], allow_zero=False)
    config["ANALYTICS_CACHE_RETRY_SECONDS"] = parse_seconds(
        "ANALYTICS_CACHE_RETRY_SECONDS", config["ANALYTICS_CACHE_RETRY_SECONDS"]
    )
    config["ANALYTICS_READ_RETRY_SECONDS"] = parse_seconds(
        "ANALYTICS_READ_RETRY_SECONDS", config["ANALYTICS_READ_RETRY_SECONDS"]
    )
    if config["ANALYTICS_READ_MAX_LAG_SECONDS"] is not None:
        config["ANALYTICS_READ_MAX_LAG_SECONDS"] = parse_seconds(
            "ANALYTICS_READ_MAX_LAG_SECONDS", config["ANALYTICS_READ_MAX_LAG_SECONDS"]
        )
    _check_read_replica(config)
    config["ANALYTICS_RETENTION_DAYS"] = parse_retention(config["ANALYTICS_RETENTION_DAYS"])
    for key in RATE_LIMIT_KEYS:
        config[key] = parse_rate_limit(key, config[key])
    config["ANALYTICS_PAID_TIERS"] = parse_tiers("ANALYTICS_PAID_TIERS", config["ANALYTICS_PAID_TIERS"])
    config["ANALYTICS_TIER_NAMES"] = parse_tier_names("ANALYTICS_TIER_NAMES", config["ANALYTICS_TIER_NAMES"])
    _check_link("ANALYTICS_UPGRADE_URL", config["ANALYTICS_UPGRADE_URL"])
    login = config["ANALYTICS_LOGIN_ENDPOINT"]
    if login is not None and (not isinstance(login, str) or not login.strip() or any(c in login for c in " /:")):
        raise ValueError(
            "ANALYTICS_LOGIN_ENDPOINT must be the endpoint name of the host's sign-in view, as url_for() takes it "
            f"(e.g. 'auth.login'), or None; got {login!r}."
        )
    next_param = config["ANALYTICS_LOGIN_NEXT_PARAM"]
    if not isinstance(next_param, str) or not next_param.strip() or any(c in next_param for c in " &=?#"):
        raise ValueError(
            "ANALYTICS_LOGIN_NEXT_PARAM must be the query parameter the sign-in view reads the page to come back to "
            f"from (e.g. 'next'); got {next_param!r}."
        )
    for key in _TABLE_KEYS:
        name = config[key]
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ValueError(f"{key} must be a plain table name (letters, digits, underscores), got {name!r}.")
    for key in ("ANALYTICS_BASE_TEMPLATE", "ANALYTICS_NAV_CONFIG_KEY"):
        if not isinstance(config[key], str) or not config[key].strip():
            raise ValueError(f"{key} must be a non-empty string, got {config[key]!r}.")
    _check_storage_uri("ANALYTICS_RATELIMIT_STORAGE_URI", config["ANALYTICS_RATELIMIT_STORAGE_URI"])
    for key in ("ANALYTICS_CACHE_REDIS_URL", "ANALYTICS_CALL_PATTERNS_REDIS_URL"):
        if config[key] is not None:
            _check_redis_url(key, config[key])
    _check_caller_attr(config)
    registry = config["ANALYTICS_METRICS_REGISTRY"]
    if registry is not None and not all(callable(getattr(registry, m, None)) for m in ("register", "collect")):
        raise ValueError(
            f"ANALYTICS_METRICS_REGISTRY must be a prometheus_client CollectorRegistry or None, got {registry!r}."
        )
    token = config["ANALYTICS_METRICS_TOKEN"]
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise ValueError(
            f"ANALYTICS_METRICS_TOKEN must be a non-empty string (the scraper's bearer token) or None, got {token!r}."
        )
    prefix = config["ANALYTICS_URL_PREFIX"]
    if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix.rstrip("/")) < 2 or " " in prefix:
        raise ValueError(f"ANALYTICS_URL_PREFIX must be a URL path such as '/analytics', got {prefix!r}.")
    config["ANALYTICS_URL_PREFIX"] = prefix.rstrip("/")
    path = config["ANALYTICS_METRICS_PATH"]
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ValueError(f"ANALYTICS_METRICS_PATH must be a URL path starting with '/' or None, got {path!r}.")


#: Runtime flags and the value that keeps analytics closed when a runtime value is invalid.
_CLOSED = {"ANALYTICS_ENABLED": False, "ANALYTICS_FREE_TIER": False}
_reported: set[tuple[str, str]] = set()


def runtime_flag(key: str) -> bool:
    """A per-request flag (``ANALYTICS_ENABLED``, ``ANALYTICS_FREE_TIER``), parsed like at start-up.

    A host may flip these at runtime, with a string too: ``"off"`` means off.
    A value that is not a boolean at all fails closed (analytics off, free tier
    shut) and is logged once per value, since a request cannot refuse to start.
    """
    value = current_app.config[key]
    try:
        return parse_bool(key, value)
    except ValueError as exc:
        if (key, repr(value)) not in _reported:
            _reported.add((key, repr(value)))
            log.error("%s Treated as %s until it is fixed.", exc, _CLOSED[key])
        return _CLOSED[key]
