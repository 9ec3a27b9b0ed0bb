"""Migration 009 on SQLite and PostgreSQL: upgrade, downgrade, upgrade again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade

from host_app import MIGRATIONS, upgrade_schema

# SQLite's unique key is an expression index, which reflection skips with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")


def _inspect(app):
    with app.app_context():
        return sa.inspect(app.extensions["sqlalchemy"].engine)


def _tables(app) -> set[str]:
    return set(_inspect(app).get_table_names())


def test_upgrade_creates_the_table_with_the_spec_columns(app):
    columns = {c["name"]: c for c in _inspect(app).get_columns("analytics_daily_aggregates")}
    assert list(columns) == [
        "id", "tenant_id", "agent_id", "date", "metric_type", "count", "created_at", "updated_at"
    ]
    assert columns["agent_id"]["nullable"] and not columns["tenant_id"]["nullable"]
    assert columns["metric_type"]["type"].length == 64


def test_upgrade_creates_the_spec_indexes(app):
    indexes = {i["name"] for i in _inspect(app).get_indexes("analytics_daily_aggregates")}
    assert {"idx_analytics_tenant_date", "idx_analytics_agent_date"} <= indexes


def test_the_unique_key_is_named_uq_daily_aggregate(app, host, backend):
    if backend == "postgresql":
        names = {u["name"] for u in _inspect(app).get_unique_constraints("analytics_daily_aggregates")}
        assert "uq_daily_aggregate" in names
    else:  # an expression index, which SQLAlchemy's reflection does not list
        (sql,) = host.execute("SELECT sql FROM sqlite_master WHERE name = 'uq_daily_aggregate'").one()
        assert sql.startswith("CREATE UNIQUE INDEX") and "coalesce(agent_id, '')" in sql


def test_foreign_keys_cascade_on_tenant_and_null_on_agent(app):
    fks = {fk["referred_table"]: fk["options"].get("ondelete") for fk in
           _inspect(app).get_foreign_keys("analytics_daily_aggregates")}
    assert fks == {"tenants": "CASCADE", "agents": "SET NULL"}


def test_the_database_fills_id_and_timestamps(app, host):
    tenant = host.tenant()
    host.execute(
        "INSERT INTO analytics_daily_aggregates (tenant_id, date, metric_type, count) "
        "VALUES (:t, '2026-01-01', 'api_calls', 1)",
        t=tenant if app.extensions["sqlalchemy"].engine.dialect.name == "postgresql" else tenant.hex,
    )
    row = host.execute("SELECT id, created_at, updated_at FROM analytics_daily_aggregates").one()
    assert all(row)


def test_downgrade_drops_the_plugin_tables_and_keeps_the_hosts(app):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="agentidp_analytics@base")
    tables = _tables(app)
    assert "analytics_daily_aggregates" not in tables
    assert "analytics_aggregated_days" not in tables
    assert {"tenants", "agents", "usage_events"} <= tables


def test_upgrade_after_downgrade_restores_everything(app, host):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="agentidp_analytics@base")
    upgrade_schema(app)
    assert {"analytics_daily_aggregates", "analytics_aggregated_days"} <= _tables(app)
    tenant = host.tenant()
    agent = host.agent(tenant)
    host.delete_agent(agent)  # the trigger came back with the table


def test_the_plugin_revision_runs_after_the_host_revision_it_depends_on(make_app):
    app = make_app(migrate=False)
    from alembic.script import ScriptDirectory
    from flask_migrate import Migrate

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(MIGRATIONS)
        script = ScriptDirectory.from_config(config)
        order = [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]
    assert order.index("host_0001") < order.index("009_add_analytics_aggregates")
    assert Migrate  # imported for the config hook the plugin registered
