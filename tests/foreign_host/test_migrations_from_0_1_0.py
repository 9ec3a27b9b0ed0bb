"""An Orbit database migrated by plugin 0.1.0 (its revision a branch in Orbit's history) moves on.

Plugin 0.1.0 told hosts to set ANALYTICS_MIGRATION_DEPENDS_ON to the revision
creating their tables and to run ``flask db upgrade heads``. Orbit did, with
its first revision; its second came later, so ``alembic_version`` holds Orbit's
head and the plugin's revision. After upgrading the plugin, Orbit's operators
run the README's commands and every row is still there.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask
from legacy_0_1_0 import build_0_1_0_database, roll_up_as_0_1_0

from .conftest import MakeOrbit, run_flask, upgrade_schema
from .orbit_idp.extensions import db
from .world import build_world

pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")

ORBITS_TABLES_REVISION = "5c0f1e2a9b77"  # orgs, bots, bot_usage
ORBITS_HEAD = "8d3b6a41c2f0"
SETTING = {"ANALYTICS_MIGRATION_DEPENDS_ON": ORBITS_TABLES_REVISION}


def _rows(app: Flask) -> dict[str, list[tuple[str, ...]]]:
    with app.app_context(), db.engine.connect() as conn:
        return {
            table: sorted(tuple(map(str, row)) for row in conn.execute(sa.text(f"SELECT * FROM {table}")))
            for table in ("analytics_daily_aggregates", "analytics_aggregated_days", "orgs", "bots", "bot_usage")
        }


def _versions(app: Flask, table: str) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        return set(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


@pytest.fixture
def orbit_of_0_1_0(make_orbit: MakeOrbit) -> Flask:
    """Orbit as plugin 0.1.0 left it, with a week of usage rolled up."""
    app = make_orbit(SETTING)
    build_0_1_0_database(app, depends_on=ORBITS_TABLES_REVISION)
    with app.app_context():
        world = build_world()
    roll_up_as_0_1_0(app, date.fromisoformat(world.day(0)), date.fromisoformat(world.day(6)))
    return app


def test_orbits_0_1_0_database_holds_its_head_and_the_plugins_branch(orbit_of_0_1_0: Flask) -> None:
    assert _versions(orbit_of_0_1_0, "alembic_version") == {ORBITS_HEAD, "009_add_analytics_aggregates"}


def test_the_readme_commands_move_orbits_0_1_0_database_without_losing_a_row(
    orbit_of_0_1_0: Flask, make_orbit: MakeOrbit
) -> None:
    before = _rows(orbit_of_0_1_0)
    assert before["analytics_daily_aggregates"]

    app = make_orbit(SETTING)
    upgrade_schema(app)

    assert _versions(app, "alembic_version") == {ORBITS_HEAD}
    assert _rows(app) == before
    run_flask(app, "db", "downgrade")  # Orbit's own history steps back as before the plugin
    assert _versions(app, "alembic_version") == {ORBITS_TABLES_REVISION}


def test_taking_everything_down_is_the_plugins_downgrade_then_orbits(
    orbit_of_0_1_0: Flask, make_orbit: MakeOrbit
) -> None:
    app = make_orbit(SETTING)
    upgrade_schema(app)

    run_flask(app, "analytics", "db", "downgrade", "base")
    run_flask(app, "db", "downgrade", "base")

    with app.app_context():
        left = set(sa.inspect(db.engine).get_table_names())
    assert left <= {"alembic_version", "analytics_alembic_version"}
