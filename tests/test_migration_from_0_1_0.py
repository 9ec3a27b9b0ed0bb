"""A database created by plugin 0.1.0 (its revision a branch in the host's history) moves to the new layout.

Each test builds the 0.1.0 layout for real (``legacy_0_1_0``: the host's
``upgrade heads`` with the plugin's revision as a branch), writes host rows,
aggregates and ledger days, then runs what an operator runs after upgrading
the plugin, and checks that every row is still there.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import rollup_helpers
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade as host_upgrade
from legacy_0_1_0 import build_0_1_0_database, roll_up_as_0_1_0

from agentidp_analytics_plugin import schema_migrations
from agentidp_analytics_plugin.schema_migrations import VERSION_TABLE
from host_app import MIGRATIONS, HostData

pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

DAY = dt.date(2026, 3, 2)


def _versions(app: Flask, table: str) -> set[str]:
    with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return set()
        return set(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


DUMPED = ("analytics_daily_aggregates", "analytics_aggregated_days", "tenants", "agents", "usage_events")


def _dump(app: Flask) -> dict[str, list[tuple]]:
    """Every row of the plugin's and the host's tables, in a stable order."""
    with app.app_context(), app.extensions["sqlalchemy"].engine.connect() as conn:
        return {
            table: sorted(tuple(map(str, row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}")))
            for table in DUMPED
        }


def _flask(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _upgrade_both_to_the_new_layout(app: Flask) -> None:
    """The operator's two commands; after them each history sits in its own version table."""
    for command in (("db", "upgrade"), ("analytics", "db", "upgrade")):
        result = _flask(app, *command)
        assert result.exit_code == 0, result.output
    assert _versions(app, "alembic_version") == {"host_0001"}
    assert _versions(app, VERSION_TABLE) == {schema_migrations.head()}


@pytest.fixture
def legacy(make_app) -> tuple[Flask, HostData]:
    """A 0.1.0 database with data: the host set ANALYTICS_MIGRATION_DEPENDS_ON, as 0.1.0's README said."""
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="host_0001")
    build_0_1_0_database(app, depends_on="host_0001")
    host = HostData(app)
    _write_history(app, host)
    return app, host


def _write_history(app: Flask, host: HostData) -> None:
    tenant = host.tenant()
    agents = [host.agent(tenant, name=f"agent-{i}") for i in range(3)]
    host.events([(tenant, a, DAY - dt.timedelta(days=d), "api_calls", 10 + d) for a in agents for d in range(5)])
    host.events([(tenant, None, DAY, "api_calls", 7)])
    roll_up_as_0_1_0(app, DAY - dt.timedelta(days=4), DAY)


def test_the_0_1_0_layout_is_a_branch_in_the_hosts_version_table(legacy):
    app, _ = legacy
    # 009 depended on host_0001, so its row stood for both; this is the state the move starts from.
    assert _versions(app, "alembic_version") == {"009_add_analytics_aggregates"}
    assert _versions(app, VERSION_TABLE) == set()


@pytest.mark.parametrize(
    "first_command",
    [("db", "upgrade"), ("analytics", "db", "upgrade")],
    ids=["host-upgrade-first", "plugin-upgrade-first"],
)
def test_a_0_1_0_database_moves_to_the_new_layout_without_losing_a_row(legacy, make_app, first_command):
    old, _ = legacy
    before = _dump(old)
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="host_0001")

    result = _flask(app, *first_command)
    assert result.exit_code == 0, result.output
    assert _versions(app, "alembic_version") == {"host_0001"}
    _upgrade_both_to_the_new_layout(app)
    assert _dump(app) == before


def test_after_the_move_the_first_day_with_usage_is_known_and_completeness_counts_from_it(legacy, make_app):
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="host_0001")
    _upgrade_both_to_the_new_layout(app)
    (first,) = HostData(app).execute("SELECT first_event_day FROM analytics_job_state").one()
    assert str(first) == str(DAY - dt.timedelta(days=4))
    with app.app_context():
        assert app.extensions["agentidp_analytics"].service.data_complete_through() == DAY


def test_the_move_fills_the_rollups_from_the_existing_aggregates(legacy, make_app):
    _, host = legacy
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="host_0001")
    assert _flask(app, "analytics", "db", "upgrade").exit_code == 0
    filled = rollup_helpers.actual(host)
    assert filled["active_agents"] and filled["agent_weekly"] and filled["tenant_daily"]
    assert filled == rollup_helpers.expected(host)


def test_after_the_move_the_deletion_trigger_still_folds_an_agents_rows(legacy, make_app):
    _, host = legacy
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="host_0001")
    assert _flask(app, "analytics", "db", "upgrade").exit_code == 0
    total = "SELECT sum(count) FROM analytics_daily_aggregates"
    (before,) = host.execute(total).one()
    (agent,) = host.execute("SELECT id FROM agents ORDER BY name LIMIT 1").one()
    HostData(app).delete_agent(uuid.UUID(str(agent)))
    assert host.execute(total).one()[0] == before


def test_a_0_1_0_database_without_the_setting_names_the_key_and_changes_nothing(legacy, make_app, caplog):
    app = make_app(migrate=False)
    result = _flask(app, "db", "upgrade")
    assert result.exit_code == 1
    assert "Set ANALYTICS_MIGRATION_DEPENDS_ON to that host revision" in caplog.text
    assert _versions(app, "alembic_version") == {"009_add_analytics_aggregates"}
    assert _versions(app, VERSION_TABLE) == set()


def test_the_plugin_command_says_the_same_about_a_missing_setting(legacy, make_app):
    app = make_app(migrate=False)
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert "Set ANALYTICS_MIGRATION_DEPENDS_ON" in result.output


def test_a_setting_that_names_no_host_revision_is_named_in_the_error(legacy, make_app):
    app = make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON="no_such_revision")
    result = _flask(app, "analytics", "db", "upgrade")
    assert result.exit_code == 1
    assert "ANALYTICS_MIGRATION_DEPENDS_ON = 'no_such_revision' is not a revision of the host's" in result.output
    assert _versions(app, "alembic_version") == {"009_add_analytics_aggregates"}


def test_a_0_1_0_branch_without_a_dependency_moves_without_the_setting(make_app):
    old = make_app(migrate=False)
    with old.app_context():  # without the setting, 0.1.0 needed the host's revision applied first
        host_upgrade(directory=MIGRATIONS)
    build_0_1_0_database(old, depends_on=None)
    assert _versions(old, "alembic_version") == {"host_0001", "009_add_analytics_aggregates"}
    _write_history(old, HostData(old))
    before = _dump(old)

    app = make_app(migrate=False)
    _upgrade_both_to_the_new_layout(app)
    assert _dump(app) == before


@pytest.mark.parametrize("value", [42, "", "  "], ids=["not-a-string", "empty", "blank"])
def test_an_invalid_depends_on_setting_fails_at_start_up_naming_the_key(make_app, value):
    with pytest.raises(ValueError, match="ANALYTICS_MIGRATION_DEPENDS_ON must be the host's Alembic revision id"):
        make_app(migrate=False, ANALYTICS_MIGRATION_DEPENDS_ON=value)
