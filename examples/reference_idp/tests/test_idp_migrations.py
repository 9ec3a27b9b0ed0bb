"""The host's Alembic history on both databases: up, down, and what it guarantees."""

from __future__ import annotations

import datetime as dt

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from idp_helpers import make_tenant

from reference_idp.extensions import db
from reference_idp.migrations_info import HOST_SCHEMA_REVISION
from reference_idp.usage import record_usage

HOST_TABLES = {
    "tenants",
    "users",
    "agents",
    "agent_credentials",
    "agent_access_tokens",
    "tenant_api_tokens",
    "usage_events",
}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_creates_every_host_table(unmigrated_app):
    with unmigrated_app.app_context():
        flask_migrate.upgrade()
        assert _tables() == HOST_TABLES


def test_downgrade_to_base_removes_every_host_table(app):
    with app.app_context():
        flask_migrate.downgrade(revision="base")
        assert _tables() == set()


def test_upgrade_after_downgrade_restores_a_working_schema(app):
    with app.app_context():
        flask_migrate.downgrade(revision="base")
        flask_migrate.upgrade()
        tenant = make_tenant()
        record_usage(tenant.id, None, "api_calls", 2)
        db.session.commit()
        assert _tables() == HOST_TABLES


def test_published_revision_is_the_head_of_the_host_history(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
    assert heads == [HOST_SCHEMA_REVISION]


def test_usage_key_treats_tenant_wide_rows_as_one_value(app):
    with app.app_context():
        tenant = make_tenant()
        row = {
            "tenant_id": tenant.id,
            "agent_id": None,
            "date": dt.date(2026, 1, 5),
            "metric_type": "api_calls",
            "count": 1,
        }
        db.session.execute(sa.insert(db.metadata.tables["usage_events"]), [row])
        db.session.commit()
        with pytest.raises(sa.exc.IntegrityError):
            db.session.execute(sa.insert(db.metadata.tables["usage_events"]), [row])
            db.session.commit()
        db.session.rollback()


def test_server_default_fills_usage_event_ids(app):
    """SQL-only writers (the deletion trigger, plugin roll-ups) rely on it."""
    with app.app_context():
        tenant = make_tenant()
        tenant_id = tenant.id.hex if db.engine.dialect.name == "sqlite" else tenant.id
        db.session.execute(
            sa.text(
                "INSERT INTO usage_events (tenant_id, date, metric_type, count) "
                "VALUES (:tenant, :day, 'api_calls', 3)"
            ),
            {"tenant": tenant_id, "day": dt.date(2026, 1, 5)},
        )
        db.session.commit()
        assert db.session.scalar(sa.text("SELECT count(*) FROM usage_events WHERE id IS NOT NULL"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_connections_enforce_foreign_keys(app):
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
