"""The plugin's tables and their own Alembic history, beside the host's, on SQLite and PostgreSQL.

What an operator runs: the host's plain ``flask db upgrade``, then ``flask
analytics db upgrade``. The host's history never sees a plugin revision.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import upgrade as host_upgrade

from agentidp_analytics_plugin import schema_migrations
from agentidp_analytics_plugin.schema_migrations import VERSION_TABLE
from host_app import MIGRATIONS, HostData

# SQLite's unique key is an expression index, which reflection skips with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

PLUGIN_TABLES = {
    "analytics_daily_aggregates",
    "analytics_aggregated_days",
    "analytics_call_patterns",
    "analytics_call_pattern_batches",
    "analytics_job_state",
}
HOST_TABLES = {"tenants", "agents", "usage_events", "api_tokens"}


def _inspect(app):
    with app.app_context():
        return sa.inspect(app.extensions["sqlalchemy"].engine)


def _tables(app) -> set[str]:
    return set(_inspect(app).get_table_names())


def _versions(app: Flask, table: str) -> set[str]:
    with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as conn:
        return set(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


def _flask(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _ok(app: Flask, *args: str) -> str:
    result = _flask(app, *args)
    assert result.exit_code == 0, result.output
    return result.output


# --- what the revision creates ---------------------------------------------------------------


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


# --- two histories, one database ---------------------------------------------------------------


def test_the_plugin_records_its_revisions_in_its_own_version_table(app):
    assert _versions(app, VERSION_TABLE) == {schema_migrations.head()}
    assert _versions(app, "alembic_version") == {"host_0001"}


def test_the_hosts_history_keeps_one_head_with_the_plugin_installed(app):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == ["host_0001"]
    assert schema_migrations.head() not in {rev.revision for rev in script.walk_revisions()}


def test_plain_flask_db_upgrade_builds_the_hosts_tables_only(make_app):
    app = make_app(migrate=False)
    _ok(app, "db", "upgrade")
    assert _tables(app) >= HOST_TABLES
    assert not _tables(app) & PLUGIN_TABLES


def test_flask_analytics_db_upgrade_after_the_hosts_creates_the_plugin_tables(make_app):
    app = make_app(migrate=False)
    _ok(app, "db", "upgrade")
    output = _ok(app, "analytics", "db", "upgrade")
    assert "upgrade to 009_add_analytics_aggregates" in output
    assert _tables(app) >= PLUGIN_TABLES


def test_flask_analytics_db_upgrade_twice_changes_nothing(app):
    before = _tables(app)
    output = _ok(app, "analytics", "db", "upgrade")
    assert "already up to date" in output
    assert _tables(app) == before


def test_plain_flask_db_upgrade_at_head_leaves_the_plugin_tables_alone(app):
    _ok(app, "db", "upgrade")
    assert _tables(app) >= PLUGIN_TABLES
    assert _versions(app, VERSION_TABLE) == {schema_migrations.head()}


@pytest.mark.parametrize(
    ("command", "expected"),
    [(("db", "current"), "host_0001"), (("db", "heads"), "host_0001 (test_host) (head)")],
    ids=["current", "heads"],
)
def test_the_hosts_flask_db_commands_show_the_hosts_revision_alone(app, database_url, tmp_path, command, expected):
    # A real ``flask`` process: Alembic prints to the stdout it saw at import, out of the test runner's reach.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", f"host_app:create_host_app({database_url!r})", *command],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert expected in output
    assert "009_add_analytics_aggregates" not in output


def test_removing_everything_takes_the_plugin_then_the_host_downgrade(app):
    _ok(app, "analytics", "db", "downgrade", "base")
    assert not _tables(app) & PLUGIN_TABLES
    assert _tables(app) >= HOST_TABLES
    _ok(app, "db", "downgrade")
    assert not _tables(app) & (HOST_TABLES | PLUGIN_TABLES)


def test_upgrade_after_downgrade_restores_everything(app, host):
    _ok(app, "analytics", "db", "downgrade", "base")
    _ok(app, "analytics", "db", "upgrade")
    assert _tables(app) >= PLUGIN_TABLES
    tenant = host.tenant()
    agent = host.agent(tenant)
    host.delete_agent(agent)  # the trigger came back with the table


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "Analytics schema not installed"),
        (("upgrade",), "(head)"),
    ],
    ids=["before-upgrade", "after-upgrade"],
)
def test_flask_analytics_db_current_says_where_the_schema_is(make_app, args, expected):
    app = make_app(migrate=False)
    _ok(app, "db", "upgrade")
    if args:
        _ok(app, "analytics", "db", *args)
    assert expected in _ok(app, "analytics", "db", "current")


def test_flask_analytics_db_history_lists_every_plugin_revision_oldest_first(app):
    lines = _ok(app, "analytics", "db", "history").splitlines()
    assert lines[0].startswith("009_add_analytics_aggregates: ")
    assert lines[-1].startswith(schema_migrations.head())


def test_the_plugin_history_is_one_line_from_009(app):
    script = schema_migrations.script_directory()
    assert len(script.get_heads()) == 1
    assert script.get_bases() == ["009_add_analytics_aggregates"]
    for rev in script.walk_revisions():
        assert not rev.dependencies
        assert rev.down_revision is None or isinstance(rev.down_revision, str), rev.revision


def test_downgrade_one_step_reverts_only_the_newest_plugin_revision(app):
    revisions = [rev for rev, _ in schema_migrations.history()]
    _ok(app, "analytics", "db", "downgrade")
    after = _versions(app, VERSION_TABLE)
    assert after == (set(revisions[-2:-1]) if len(revisions) > 1 else set())


def test_downgrade_without_plugin_tables_says_there_is_nothing_to_do(make_app):
    app = make_app(migrate=False)
    _ok(app, "db", "upgrade")
    result = _flask(app, "analytics", "db", "downgrade")
    assert result.exit_code == 1
    assert "nothing to downgrade" in result.output


def test_an_unknown_revision_is_named_in_the_error(app):
    result = _flask(app, "analytics", "db", "upgrade", "no_such_revision")
    assert result.exit_code == 1
    assert "'no_such_revision'" in result.output


def test_the_db_help_says_to_run_the_hosts_upgrade_first(app):
    output = " ".join(_ok(app, "analytics", "db", "--help").split())
    assert "flask db upgrade" in output and "flask analytics db upgrade" in output
    for command in ("upgrade", "downgrade", "current", "history", "stamp"):
        assert command in output


# --- ordering: never before the host's tables ----------------------------------------------------


def test_plugin_upgrade_before_the_host_tables_names_the_table_and_the_command(make_app):
    app = make_app(migrate=False)
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert "'tenants' (ANALYTICS_TENANTS_TABLE) does not exist" in result.output
    assert "flask db upgrade" in result.output
    assert not _tables(app) & (PLUGIN_TABLES | {VERSION_TABLE})


def test_a_renamed_host_table_is_named_with_its_key(make_app):
    app = make_app(migrate=False, ANALYTICS_AGENTS_TABLE="idp_agents")
    _ok(app, "db", "upgrade")
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert "'idp_agents' (ANALYTICS_AGENTS_TABLE) does not exist" in result.output
    assert not _tables(app) & PLUGIN_TABLES


def test_a_host_table_without_a_contract_column_is_named_with_the_column(make_app):
    app = make_app(migrate=False)
    _ok(app, "db", "upgrade")
    HostData(app).execute("ALTER TABLE tenants RENAME COLUMN tier TO plan")
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert "'tenants' (ANALYTICS_TENANTS_TABLE) has no column 'tier'" in result.output


def test_plugin_tables_without_a_recorded_revision_point_to_stamp(app):
    # Every revision's tables, no record of them: stamp the newest.
    HostData(app).execute(f"DROP TABLE {VERSION_TABLE}")
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert f"flask analytics db stamp {schema_migrations.head()}" in result.output
    _ok(app, "analytics", "db", "stamp", schema_migrations.head())
    _ok(app, "analytics", "db", "upgrade")
    assert _versions(app, VERSION_TABLE) == {schema_migrations.head()}


def test_tables_of_the_first_revision_only_point_to_stamping_it(app):
    # A schema built by hand from the first revision alone: its tables, no record of it.
    _ok(app, "analytics", "db", "downgrade", "009_add_analytics_aggregates")
    HostData(app).execute(f"DROP TABLE {VERSION_TABLE}")
    result = _flask(app, "analytics", "db", "upgrade")
    assert "flask analytics db stamp 009_add_analytics_aggregates" in result.output
    _ok(app, "analytics", "db", "stamp", "009_add_analytics_aggregates")
    _ok(app, "analytics", "db", "upgrade")
    assert "analytics_job_state" in _tables(app)


def test_the_python_api_upgrades_like_the_command(make_app):
    app = make_app(migrate=False)
    with app.app_context():
        host_upgrade(directory=MIGRATIONS)
        steps = app.extensions["agentidp_analytics"].upgrade_schema()
    assert [s.revision for s in steps] == [rev for rev, _ in schema_migrations.history()]
    assert _tables(app) >= PLUGIN_TABLES
