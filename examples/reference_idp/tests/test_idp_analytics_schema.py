"""The host's Alembic workflow with the analytics plugin loaded, on both databases.

The host keeps running its plain ``flask db upgrade``, ``flask db migrate``
and ``flask db downgrade``; the plugin's tables come from
``flask analytics db upgrade`` and live in a history of their own. These tests
need the plugin installed next to the host, as the repository's test run has it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from idp_helpers import make_agent, make_tenant

from reference_idp import create_app
from reference_idp.extensions import db
from reference_idp.migrations_info import HOST_SCHEMA_REVISION, migrations_directory
from reference_idp.usage import record_usage

# The repository's builder of databases as plugin 0.1.0 left them, shared with the plugin's suite.
sys.path.append(str(Path(__file__).resolve().parents[3] / "tests"))
from legacy_0_1_0 import build_0_1_0_database, roll_up_as_0_1_0

pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index"
)

PLUGIN_TABLES = {
    "analytics_daily_aggregates",
    "analytics_aggregated_days",
    "analytics_job_state",
    "analytics_alembic_version",
}


@pytest.fixture
def make_host(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Build the host with the analytics plugin loaded, on an empty database."""
    monkeypatch.setenv("IDP_PLUGINS", "analytics")
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    built: list[Flask] = []

    def factory(**config) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "test-secret",
                "SQLALCHEMY_DATABASE_URI": database_url,
                "ANALYTICS_SCHEDULER_ENABLED": False,
                **config,
            }
        )
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _ok(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _tables(app: Flask) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def _versions(app: Flask, table: str) -> set[str]:
    with app.app_context():
        return set(db.session.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


def _dump(app: Flask) -> dict[str, list[tuple]]:
    with app.app_context(), db.engine.connect() as conn:
        return {
            table: sorted(
                tuple(map(str, row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
            )
            for table in (
                "analytics_daily_aggregates",
                "analytics_aggregated_days",
                "agents",
                "usage_events",
            )
        }


def _write_history(app: Flask) -> None:
    """A tenant, two agents and a week of usage, rolled up as plugin 0.1.0 did."""
    with app.app_context():
        tenant = make_tenant("acme")
        agents = [make_agent(tenant, f"agent-{i}").agent for i in range(2)]
        days = [dt.date(2026, 3, d) for d in range(1, 8)]
        for day in days:
            for agent in agents:
                record_usage(tenant.id, agent.id, "api_calls", 5, day=day)
            record_usage(tenant.id, None, "api_calls", 2, day=day)
        db.session.commit()
    roll_up_as_0_1_0(app, days[0], days[-1])


def test_plain_db_upgrade_then_analytics_db_upgrade_build_both_schemas(make_host):
    app = make_host()
    _ok(app, "db", "upgrade")
    assert not _tables(app) & PLUGIN_TABLES
    _ok(app, "analytics", "db", "upgrade")
    assert _tables(app) >= PLUGIN_TABLES
    assert _versions(app, "alembic_version") == {HOST_SCHEMA_REVISION}


def test_the_hosts_autogenerate_never_touches_the_plugin_tables(make_host, tmp_path):
    app = make_host()
    _ok(app, "db", "upgrade")
    _ok(app, "analytics", "db", "upgrade")
    # The real 'flask db migrate', on a copy of the host's migrations: the package stays as built.
    directory = shutil.copytree(migrations_directory(), tmp_path / "migrations")
    _ok(app, "db", "migrate", "-d", str(directory), "-m", "probe")
    (revision,) = (directory / "versions").glob("*_probe.py")
    assert "analytics" not in revision.read_text()


def test_removing_the_plugin_then_the_host_schema_leaves_no_table(make_host):
    app = make_host()
    _ok(app, "db", "upgrade")
    _ok(app, "analytics", "db", "upgrade")
    _ok(app, "analytics", "db", "downgrade", "base")
    _ok(app, "db", "downgrade")
    assert _tables(app) <= {"alembic_version", "analytics_alembic_version"}


def test_seed_demo_builds_the_plugin_schema_and_rolls_up(make_host):
    app = make_host()
    output = _ok(app, "idp", "seed-demo")
    assert "Analytics roll-up (ran): 120 day(s)" in output
    assert _tables(app) >= PLUGIN_TABLES


def test_a_0_1_0_database_of_the_reference_host_moves_without_losing_a_row(make_host):
    old = make_host(ANALYTICS_MIGRATION_DEPENDS_ON=HOST_SCHEMA_REVISION)
    build_0_1_0_database(old, depends_on=HOST_SCHEMA_REVISION)
    assert _versions(old, "alembic_version") == {"009_add_analytics_aggregates"}
    _write_history(old)
    before = _dump(old)

    app = make_host(ANALYTICS_MIGRATION_DEPENDS_ON=HOST_SCHEMA_REVISION)
    _ok(app, "db", "upgrade")
    _ok(app, "analytics", "db", "upgrade")
    assert _versions(app, "alembic_version") == {HOST_SCHEMA_REVISION}
    assert _dump(app) == before


def _total(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.text("SELECT sum(count) FROM analytics_daily_aggregates"))


def test_after_the_move_deleting_an_agent_keeps_the_tenant_totals(make_host):
    old = make_host(ANALYTICS_MIGRATION_DEPENDS_ON=HOST_SCHEMA_REVISION)
    build_0_1_0_database(old, depends_on=HOST_SCHEMA_REVISION)
    _write_history(old)
    app = make_host(ANALYTICS_MIGRATION_DEPENDS_ON=HOST_SCHEMA_REVISION)
    _ok(app, "analytics", "db", "upgrade")
    before = _total(app)
    with app.app_context():
        agent_id = db.session.scalar(sa.text("SELECT id FROM agents LIMIT 1"))
        db.session.execute(sa.text("DELETE FROM agents WHERE id = :id"), {"id": agent_id})
        db.session.commit()
    assert _total(app) == before
