"""A small host-like IdP for the plugin's own tests.

It has what the host contract promises and nothing else: tenants, agents and
usage_events from its own Alembic history, Bearer tokens for the JSON API and
a session for the tab, and it loads the plugin through the ``agentidp.plugins``
entry point, as a real host does. Usage events here have no unique key (the
contract does not promise one), so tests can write several rows per group and
check that the roll-up sums them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Callable
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, render_template_string, session
from flask_migrate import Migrate
from flask_migrate import upgrade as migrate_upgrade
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

MIGRATIONS = str(Path(__file__).parent / "migrations")

BASE_TEMPLATE = """<!doctype html><html><head><title>{% block title %}Host{% endblock %}</title>
{% block head %}{% endblock %}</head><body>
<nav>{% for item in config.DASHBOARD_NAV if item.visible is none or item.visible() %}
<a href="{{ url_for(item.endpoint) }}">{{ item.label }}</a>{% endfor %}</nav>
<main>{% block content %}{% endblock %}</main>{% block scripts %}{% endblock %}</body></html>"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resolve_api_tenant(request: Request) -> tuple[uuid.UUID, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    db = _db()
    row = db.session.execute(
        sa.text(
            "SELECT t.id, t.tier FROM api_tokens k JOIN tenants t ON t.id = k.tenant_id WHERE k.token_hash = :h"
        ).bindparams(sa.bindparam("h", _hash(header[7:].strip()))),
    ).first()
    if row is None:
        return None
    return uuid.UUID(str(row[0])) if not isinstance(row[0], uuid.UUID) else row[0], row[1]


def resolve_session_tenant(request: Request) -> tuple[uuid.UUID, str] | None:
    tenant_id = session.get("tenant_id")
    if not tenant_id:
        return None
    tier = (
        _db()
        .session.execute(sa.select(sa.column("tier")).select_from(sa.table("tenants")).where(
            sa.column("id", sa.Uuid) == uuid.UUID(tenant_id)
        ))
        .scalar()
    )
    return (uuid.UUID(tenant_id), tier) if tier else None


def _db() -> SQLAlchemy:
    from flask import current_app

    return current_app.extensions["sqlalchemy"]


def create_host_app(database_url: str, before_plugins: Callable[[Flask], None] | None = None, **config: Any) -> Flask:
    """The host, plugins loaded last; ``before_plugins`` sets up more host extensions first."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test",
        SQLALCHEMY_DATABASE_URI=database_url,
        ANALYTICS_API_TENANT_RESOLVER=resolve_api_tenant,
        ANALYTICS_UI_TENANT_RESOLVER=resolve_session_tenant,
        ANALYTICS_BASE_TEMPLATE="host_base.html",
        ANALYTICS_SCHEDULER_ENABLED=False,
        DASHBOARD_NAV=[],
    )
    app.config.update(config)
    db = SQLAlchemy()
    db.init_app(app)
    Migrate(app, db, directory=MIGRATIONS)
    from jinja2 import DictLoader

    app.jinja_loader = DictLoader({"host_base.html": BASE_TEMPLATE})

    @app.route("/")
    def home() -> str:
        return render_template_string("{% extends 'host_base.html' %}{% block content %}home{% endblock %}")

    with app.app_context():
        if database_url.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_foreign_keys)
        else:
            event.listen(db.engine, "connect", _postgresql_without_flush_waits)

    if before_plugins is not None:
        before_plugins(app)
    for ep in entry_points(group="agentidp.plugins"):
        ep.load().init_app(app)
    return app


# Test databases are thrown away: commits need not wait for the disk, which
# otherwise dominates the suite's time (every test migrates a fresh schema).
# Only durability after an OS crash changes; what any query returns does not.


def _sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    dbapi_connection.execute("PRAGMA synchronous=OFF")


PARTITIONED = os.environ.get("ANALYTICS_TEST_LAYOUT") == "partitioned"


def _postgresql_without_flush_waits(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    dbapi_connection.commit()


def upgrade_schema(app: Flask) -> None:
    """What an operator runs: the host's ``flask db upgrade``, then ``flask analytics db upgrade``.

    With ``ANALYTICS_TEST_LAYOUT=partitioned`` (tox env ``partitioned``) a PostgreSQL
    database then gets ``flask analytics db partition`` too, so the same tests run
    on the partitioned layout.
    """
    with app.app_context():
        migrate_upgrade(directory=MIGRATIONS)
        app.extensions["agentidp_analytics"].upgrade_schema()
    if PARTITIONED and app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        result = app.test_cli_runner().invoke(args=["analytics", "db", "partition"])
        assert result.exit_code == 0, result.output


class HostData:
    """Writes host rows the way a host would, for tests to build scenarios."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def _engine(self) -> sa.Engine:
        with self.app.app_context():
            return self.app.extensions["sqlalchemy"].engine

    def execute(self, sql: str, **params: Any) -> Any:
        with self._engine().begin() as conn:
            return conn.execute(sa.text(sql), params)

    def tenant(self, tier: str = "pro", slug: str | None = None) -> uuid.UUID:
        tenant_id = uuid.uuid4()
        self._insert("tenants", [{"id": tenant_id, "slug": slug or f"t-{tenant_id.hex[:8]}", "tier": tier}])
        return tenant_id

    def agent(self, tenant_id: uuid.UUID, name: str = "agent") -> uuid.UUID:
        agent_id = uuid.uuid4()
        self._insert("agents", [{"id": agent_id, "tenant_id": tenant_id, "name": name}])
        return agent_id

    def events(self, rows: list[tuple[uuid.UUID, uuid.UUID | None, date, str, int]]) -> None:
        self._insert(
            "usage_events",
            [{"tenant_id": t, "agent_id": a, "date": d, "metric_type": m, "count": c} for t, a, d, m, c in rows],
        )

    def token(self, tenant_id: uuid.UUID) -> str:
        token = secrets.token_urlsafe(24)
        self._insert("api_tokens", [{"token_hash": _hash(token), "tenant_id": tenant_id}])
        return token

    def delete_agent(self, agent_id: uuid.UUID) -> None:
        with self._engine().begin() as conn:
            conn.execute(self._table("agents").delete().where(sa.column("id", sa.Uuid) == agent_id))

    def delete_tenant(self, tenant_id: uuid.UUID) -> None:
        with self._engine().begin() as conn:
            conn.execute(self._table("tenants").delete().where(sa.column("id", sa.Uuid) == tenant_id))

    def _table(self, name: str) -> sa.Table:
        columns = {
            "tenants": ["id", "slug", "tier"],
            "agents": ["id", "tenant_id", "name"],
            "usage_events": ["tenant_id", "agent_id", "date", "metric_type", "count"],
            "api_tokens": ["token_hash", "tenant_id"],
        }[name]
        types = {"id": sa.Uuid, "tenant_id": sa.Uuid, "agent_id": sa.Uuid, "date": sa.Date, "count": sa.BigInteger}
        return sa.table(name, *(sa.column(c, types.get(c, sa.String)) for c in columns))

    def _insert(self, name: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self._engine().begin() as conn:
                conn.execute(self._table(name).insert(), rows)
