"""Orbit ID's configuration: defaults in code, deployment values from the environment.

Like most twelve-factor apps, Orbit reads its deployment settings from
``os.environ``; those arrive as strings and are handed to the app as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Environment variables Orbit passes to the analytics plugin untouched.
PLUGIN_ENV_KEYS = (
    "ANALYTICS_ENABLED",
    "ANALYTICS_FREE_TIER",
    "ANALYTICS_GALLERY_ENABLED",
    "ANALYTICS_RATELIMIT",
)

DEFAULTS: dict[str, Any] = {
    "SECRET_KEY": "orbit-dev-only",
    "SQLALCHEMY_DATABASE_URI": "sqlite:///orbit.db",
    "ORBIT_MIGRATIONS_DIR": str(Path(__file__).parent / "migrations"),
    # Orbit's own extensions.
    "CACHE_TYPE": "SimpleCache",
    "CACHE_KEY_PREFIX": "orbit:",
    "CACHE_DEFAULT_TIMEOUT": 120,
    "RATELIMIT_DEFAULT": "200 per hour",
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "SCHEDULER_TIMEZONE": "Europe/Berlin",
    "SCHEDULER_API_ENABLED": False,
    "JOBS": [
        {
            "id": "orbit-purge-expired-keys",
            "func": "foreign_host.orbit_idp.jobs:purge_expired_keys",
            "trigger": "cron",
            "hour": 4,
            "minute": 30,
        }
    ],
    "ORBIT_START_SCHEDULER": False,
    "ORBIT_SCHEDULER_PAUSED": False,
    "SIDEBAR_LINKS": [
        {"label": "Overview", "endpoint": "console.overview", "visible": True},
        {"label": "Bots", "endpoint": "console.bots", "visible": True},
    ],
    # The analytics plugin, mounted on Orbit's names.
    "ANALYTICS_TENANTS_TABLE": "orgs",
    "ANALYTICS_AGENTS_TABLE": "bots",
    "ANALYTICS_USAGE_EVENTS_TABLE": "bot_usage",
    "ANALYTICS_PAID_TIERS": ("growth", "scale"),
    "ANALYTICS_TIER_NAMES": {"starter": "Starter", "growth": "Growth", "scale": "Scale"},
    "ANALYTICS_API_TENANT_RESOLVER": "foreign_host.orbit_idp.auth:org_from_api_key",
    "ANALYTICS_UI_TENANT_RESOLVER": "foreign_host.orbit_idp.auth:org_from_session",
    "ANALYTICS_BASE_TEMPLATE": "orbit/layout.html",
    "ANALYTICS_NAV_CONFIG_KEY": "SIDEBAR_LINKS",
    "ANALYTICS_JOB_HOUR": 3,
    "ANALYTICS_JOB_MINUTE": 15,
    "ANALYTICS_REAGGREGATE_DAYS": 2,
    "ANALYTICS_CACHE_TTL_SUMMARY": 30,
    "ANALYTICS_CACHE_TTL_DEFAULT": 120,
    "ANALYTICS_RATELIMIT": "100 per minute",
    "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "20 per minute",
    "ANALYTICS_ROTATION_STALE_DAYS": 45,
    "ANALYTICS_HEATMAP_AGENTS": 10,
    # Signed-out visitors go to Orbit's sign-in; the upgrade panel links to Orbit's plans.
    "ANALYTICS_LOGIN_ENDPOINT": "auth.signin",
    "ANALYTICS_UPGRADE_URL": "https://orbit.example/billing/plans",
}


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings a deployment sets through environment variables, as strings."""
    settings: dict[str, Any] = {}
    if "DATABASE_URL" in environ:
        settings["SQLALCHEMY_DATABASE_URI"] = environ["DATABASE_URL"]
    if "REDIS_URL" in environ:
        settings.update(
            CACHE_TYPE="RedisCache",
            CACHE_REDIS_URL=environ["REDIS_URL"],
            RATELIMIT_STORAGE_URI=environ["REDIS_URL"],
            ANALYTICS_CACHE_REDIS_URL=environ["REDIS_URL"],
            ANALYTICS_RATELIMIT_STORAGE_URI=environ["REDIS_URL"],
        )
    if "SECRET_KEY" in environ:
        settings["SECRET_KEY"] = environ["SECRET_KEY"]
    settings.update({key: environ[key] for key in PLUGIN_ENV_KEYS if key in environ})
    return settings
