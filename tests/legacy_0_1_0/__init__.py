"""Databases as plugin 0.1.0 left them, built for real by Alembic, for upgrade tests."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from flask import Flask

VERSIONS = str(Path(__file__).parent)


def build_0_1_0_database(app: Flask, depends_on: str | None) -> None:
    """Run the host's ``upgrade heads`` with the plugin's revision as a branch, as 0.1.0 did.

    ``depends_on`` is the host's ``ANALYTICS_MIGRATION_DEPENDS_ON`` at the time
    (None: the plugin's branch had no dependency).
    """
    with app.app_context():
        app.config["ANALYTICS_MIGRATION_DEPENDS_ON"] = depends_on
        config = app.extensions["migrate"].migrate.get_config()
        host_versions = os.path.join(config.get_main_option("script_location"), "versions")
        config.set_main_option("path_separator", "os")  # Alembic 1.16+; read first when present
        config.set_main_option("version_path_separator", "os")  # older Alembic
        config.set_main_option("version_locations", os.pathsep.join([host_versions, VERSIONS]))
        command.upgrade(config, "heads")


def roll_up_as_0_1_0(app: Flask, first: date, last: date) -> None:
    """Aggregates and ledger days for ``first``..``last`` as 0.1.0's job wrote them (its tables only).

    Today's job also keeps a state table that 0.1.0 did not have, so the
    history is written with the same set-based statements, in SQL.
    """
    with app.app_context():
        state = app.extensions["agentidp_analytics"]
        events = state.tables.usage_events.name
        with state.engine.begin() as conn:
            period = {"first": first, "last": last}
            conn.execute(
                sa.text(
                    "INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count) "
                    f"SELECT tenant_id, agent_id, date, metric_type, SUM(count) FROM {events} "
                    "WHERE date BETWEEN :first AND :last GROUP BY tenant_id, agent_id, date, metric_type"
                ),
                period,
            )
            for day in (first + timedelta(days=i) for i in range((last - first).days + 1)):
                conn.execute(
                    sa.text(
                        "INSERT INTO analytics_aggregated_days (date, rows_in, rows_out, duration_ms) "
                        f"SELECT :day, (SELECT COUNT(*) FROM {events} WHERE date = :day), "
                        "(SELECT COUNT(*) FROM analytics_daily_aggregates WHERE date = :day), 1.0"
                    ),
                    {"day": day},
                )
