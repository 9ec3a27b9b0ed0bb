"""Add the roll-ups the reads answer from (tenant x day x metric, agent x week, first occurrences).

Revision ID: 012_add_analytics_rollups
Revises: 011_add_analytics_job_state

Three tables the nightly job keeps in the same transaction as the day's
aggregates (``agentidp_analytics_plugin.rollups`` explains what each holds and
why the distinct counts stay exact), filled here from the existing aggregates
by three set-based statements. The agents trigger of 009 is extended: a
deleted agent's rows still fold into the tenant-wide rows, and its weekly
sums and first occurrences leave the roll-ups first. On SQLite an index on the
aggregates' (date, tenant_id, metric_type, agent_id) lets the job find a
day's groups without scanning every day.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = "012_add_analytics_rollups"
down_revision = "011_add_analytics_job_state"
branch_labels = None
depends_on = None

AGGREGATES = "analytics_daily_aggregates"
TENANT_DAILY = "analytics_tenant_daily"
AGENT_WEEKLY = "analytics_agent_weekly"
ACTIVE_AGENTS = "analytics_active_agents"
TRIGGER = "analytics_fold_deleted_agent"
SQLITE_DAY_INDEX = "idx_analytics_day_group"

# Frozen copies of the plugin's metric groups as of this revision.
ACTIVITY_METRICS = ("api_calls", "token_issuances", "credential_rotations")
GROUPS = {
    "usage": ("api_calls", "token_issuances", "credential_rotations", "token_failures"),
    "tokens": ("token_issuances", "token_failures"),
}
GROUPS_SQL = " UNION ALL ".join(
    f"SELECT '{m}' AS metric_type, '{g}' AS metric_group" for g, ms in GROUPS.items() for m in ms
)


def _setting(key: str, default: str) -> str:
    if has_app_context():
        return current_app.config.get(key, default) or default
    return default


def _names() -> tuple[str, str]:
    return _setting("ANALYTICS_TENANTS_TABLE", "tenants"), _setting("ANALYTICS_AGENTS_TABLE", "agents")


def _backfill(postgres: bool) -> list[str]:
    week = "CAST(date_trunc('week', date) AS date)" if postgres else "date(date, 'weekday 0', '-6 days')"
    never = "DATE '0001-01-01'" if postgres else "'0001-01-01'"
    activity = ", ".join(f"'{m}'" for m in ACTIVITY_METRICS)
    return [
        f"""INSERT INTO {TENANT_DAILY} (tenant_id, date, metric_type, count)
            SELECT tenant_id, date, metric_type, SUM(count) FROM {AGGREGATES}
             GROUP BY tenant_id, date, metric_type HAVING SUM(count) <> 0""",
        f"""INSERT INTO {AGENT_WEEKLY} (tenant_id, week, agent_id, count)
            SELECT tenant_id, {week}, agent_id, SUM(count) FROM {AGGREGATES}
             WHERE agent_id IS NOT NULL AND metric_type IN ({activity})
             GROUP BY tenant_id, {week}, agent_id HAVING SUM(count) <> 0""",
        f"""INSERT INTO {ACTIVE_AGENTS} (tenant_id, metric_group, date, prev_date, agents)
            SELECT tenant_id, metric_group, date, prev_date, COUNT(*) FROM (
              SELECT tenant_id, metric_group, date,
                     COALESCE(LAG(date) OVER (PARTITION BY tenant_id, agent_id, metric_group ORDER BY date),
                              {never}) AS prev_date
                FROM (SELECT DISTINCT a.tenant_id, a.agent_id, g.metric_group, a.date
                        FROM {AGGREGATES} a JOIN ({GROUPS_SQL}) g ON g.metric_type = a.metric_type
                       WHERE a.agent_id IS NOT NULL AND a.count > 0) active_days
            ) firsts
            GROUP BY tenant_id, metric_group, date, prev_date""",
    ]


def _leave_rollups(postgres: bool, old_id: str, guard: str = "") -> str:
    """Statements removing a deleted agent's weekly sums and first occurrences (trigger body).

    ``guard`` limits them to a tenant that stays (a tenant being deleted takes its roll-ups with it).
    """
    never = "DATE '0001-01-01'" if postgres else "'0001-01-01'"
    its_tenants = f"(SELECT DISTINCT tenant_id FROM {AGGREGATES} WHERE agent_id = {old_id})"
    firsts = f"""SELECT tenant_id, metric_group, date,
                   COALESCE(LAG(date) OVER (PARTITION BY tenant_id, metric_group ORDER BY date), {never})
                 FROM (SELECT DISTINCT a.tenant_id, g.metric_group, a.date
                         FROM {AGGREGATES} a JOIN ({GROUPS_SQL}) g ON g.metric_type = a.metric_type
                        WHERE a.agent_id = {old_id} AND a.count > 0) agent_days"""
    return f"""
      UPDATE {ACTIVE_AGENTS} SET agents = agents - 1
       WHERE (tenant_id, metric_group, date, prev_date) IN ({firsts}){guard};
      DELETE FROM {ACTIVE_AGENTS} WHERE agents <= 0 AND tenant_id IN {its_tenants}{guard};
      DELETE FROM {AGENT_WEEKLY} WHERE agent_id = {old_id} AND tenant_id IN {its_tenants}{guard};
    """


def _pg_function(tenants: str, extra: str) -> str:
    return f"""
        CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- A tenant being deleted takes its aggregates with it: nothing to fold.
          IF EXISTS (SELECT 1 FROM {tenants} WHERE id = OLD.tenant_id) THEN
            {extra}
            INSERT INTO {AGGREGATES} AS a (tenant_id, agent_id, date, metric_type, count)
            SELECT tenant_id, NULL::uuid, date, metric_type, count
              FROM {AGGREGATES} WHERE agent_id = OLD.id
            ON CONFLICT ON CONSTRAINT uq_daily_aggregate
            DO UPDATE SET count = a.count + EXCLUDED.count, updated_at = now();
          END IF;
          DELETE FROM {AGGREGATES} WHERE agent_id = OLD.id;
          RETURN OLD;
        END $$
    """


def _sqlite_trigger(tenants: str, agents: str, extra: str) -> str:
    return f"""
        CREATE TRIGGER {TRIGGER} BEFORE DELETE ON {agents}
        BEGIN
          {extra}
          INSERT INTO {AGGREGATES} (tenant_id, agent_id, date, metric_type, count)
          SELECT tenant_id, NULL, date, metric_type, count
            FROM {AGGREGATES}
           WHERE agent_id = OLD.id AND EXISTS (SELECT 1 FROM {tenants} WHERE id = OLD.tenant_id)
          ON CONFLICT (tenant_id, coalesce(agent_id, ''), date, metric_type)
          DO UPDATE SET count = count + excluded.count, updated_at = CURRENT_TIMESTAMP;
          DELETE FROM {AGGREGATES} WHERE agent_id = OLD.id;
        END
    """


def _tenant_fk(tenants: str) -> sa.Column:
    return sa.Column("tenant_id", sa.Uuid, sa.ForeignKey(f"{tenants}.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    tenants, agents = _names()
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        TENANT_DAILY,
        _tenant_fk(tenants),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("metric_type", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        AGENT_WEEKLY,
        _tenant_fk(tenants),
        sa.Column("week", sa.Date, primary_key=True),
        sa.Column("agent_id", sa.Uuid, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        ACTIVE_AGENTS,
        _tenant_fk(tenants),
        sa.Column("metric_group", sa.String(16), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("prev_date", sa.Date, primary_key=True),
        sa.Column("agents", sa.BigInteger, nullable=False),
    )
    if not postgres:
        op.create_index(SQLITE_DAY_INDEX, AGGREGATES, ["date", "tenant_id", "metric_type", "agent_id"])
    for statement in _backfill(postgres):
        op.execute(statement)
    if postgres:
        op.execute(_pg_function(tenants, _leave_rollups(True, "OLD.id")))
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        guard = f" AND EXISTS (SELECT 1 FROM {tenants} WHERE id = OLD.tenant_id)"
        op.execute(_sqlite_trigger(tenants, agents, _leave_rollups(False, "OLD.id", guard)))


def downgrade() -> None:
    tenants, agents = _names()
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(_pg_function(tenants, ""))
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        op.execute(_sqlite_trigger(tenants, agents, ""))
        op.drop_index(SQLITE_DAY_INDEX, table_name=AGGREGATES)
    for table in (ACTIVE_AGENTS, AGENT_WEEKLY, TENANT_DAILY):
        op.drop_table(table)
