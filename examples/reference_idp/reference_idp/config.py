"""Configuration of the host: built-in defaults, then environment, then test overrides.

Environment variables read:

* ``DATABASE_URL``: SQLAlchemy URL; default an SQLite file in the instance folder.
  ``postgres://`` and ``postgresql://`` are mapped to the installed psycopg 3 driver.
* ``SECRET_KEY``: session signing key; default one generated once into the instance folder.
* ``REDIS_URL``: when set, the analytics plugin's cache and rate-limit storage use it.
* ``IDP_PLUGINS``: which plugins load (see :mod:`reference_idp.plugins`).
* Every ``ANALYTICS_*`` variable: copied into the config as it is, a string. The
  plugin parses its keys' strings itself (``"false"``, ``"60"``, ``"pro,enterprise"``,
  ``"120 per minute"``) and refuses invalid ones at start-up, naming the key; test
  overrides still win over them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .database import engine_options
from .nav import DEFAULT_NAV_KEY, host_nav_entries

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name)
ANALYTICS_PREFIX = "ANALYTICS_"


def database_url(instance_path: str) -> str:
    """The database URL from ``DATABASE_URL``, normalised to drivers this host ships with."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{Path(instance_path) / 'reference_idp.sqlite'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def instance_secret_key(instance_path: str) -> str:
    """A key generated once and kept in the instance folder, so sessions survive restarts."""
    path = Path(instance_path) / SECRET_KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def plugin_settings_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every ``ANALYTICS_*`` environment variable, unparsed: the plugin parses its own keys."""
    environ = os.environ if environ is None else environ
    return {key: value for key, value in environ.items() if key.startswith(ANALYTICS_PREFIX)}


def configure(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config``; plugin keys are set here, before any plugin loads."""
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=database_url(app.instance_path),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        IDP_ACCESS_TOKEN_TTL=3600,
        DEMO_PASSWORD="agentidp-demo",  # noqa: S106 (public demo login, printed by seed-demo)
    )
    if os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    app.config.from_mapping(plugin_settings_from_environment())
    if test_config:
        app.config.from_mapping(test_config)

    config = app.config
    # No pool_pre_ping: its ping cannot be bounded; database.py replaces dead connections.
    config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["SQLALCHEMY_DATABASE_URI"])
    )
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = instance_secret_key(app.instance_path)

    # The analytics plugin's contract (see HOST_CONTRACT.md).
    config.setdefault(
        "ANALYTICS_API_TENANT_RESOLVER", "reference_idp.analytics_host:resolve_api_tenant"
    )
    config.setdefault(
        "ANALYTICS_UI_TENANT_RESOLVER", "reference_idp.analytics_host:resolve_session_tenant"
    )
    # Per-endpoint call patterns of the agent API and the token endpoint, which keep who called in
    # g.api_caller; the plugin reads it there.
    config.setdefault("ANALYTICS_CALL_PATTERNS_ENABLED", True)
    if config.get("ANALYTICS_CALL_PATTERNS_RESOLVER") is None:
        config.setdefault("ANALYTICS_CALL_PATTERNS_CALLER_ATTR", "api_caller")
    config.setdefault("ANALYTICS_BASE_TEMPLATE", "reference_idp/base.html")
    config.setdefault("ANALYTICS_LOGIN_ENDPOINT", "auth.login")
    config.setdefault("ANALYTICS_NAV_CONFIG_KEY", DEFAULT_NAV_KEY)
    config.setdefault(config["ANALYTICS_NAV_CONFIG_KEY"], host_nav_entries())
    redis_url = os.environ.get("REDIS_URL")
    if redis_url:
        config.setdefault("ANALYTICS_CACHE_REDIS_URL", redis_url)
        config.setdefault("ANALYTICS_RATELIMIT_STORAGE_URI", redis_url)
