"""Add analytics_daily_aggregates (spec migration 009) and the roll-up ledger.

Revision ID: 009_add_analytics_aggregates
Revises: (the first revision of the plugin's own history)

Plugin 0.1.0 ran this revision inside the host's history, as a branch that
depended on the host revision creating the host tables; the plugin's history
now stands alone and checks for those tables before it runs (see
``agentidp_analytics_plugin.schema_migrations``). What it creates is unchanged.

Two dialect-specific details carry the spec's guarantees:

* The unique key must treat a NULL agent (a tenant-wide row) as one value, or
  the nightly upsert re-inserts tenant-wide rows on every run. PostgreSQL gets
  ``UNIQUE NULLS NOT DISTINCT``; SQLite, which lacks it, gets a unique index on
  ``coalesce(agent_id, '')`` that the upsert names as its conflict target.
* ``ON DELETE SET NULL`` on ``agent_id`` would then collide with an existing
  tenant-wide row whenever an agent is deleted, failing the host's DELETE. A
  ``BEFORE DELETE`` trigger on the host's agents table folds the agent's rows
  into the tenant-wide bucket first, so tenant totals never change and every
  way the host deletes agents is covered.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = "009_add_analytics_aggregates"
down_revision = None
branch_labels = None
depends_on = None


def _setting(key: str, default: str | None) -> str | None:
    if has_app_context():
        return current_app.config.get(key, default)
    return default


TABLE = "analytics_daily_aggregates"
LEDGER = "analytics_aggregated_days"
TRIGGER = "analytics_fold_deleted_agent"


def _names() -> tuple[str, str]:
    return (
        _setting("ANALYTICS_TENANTS_TABLE", "tenants") or "tenants",
        _setting("ANALYTICS_AGENTS_TABLE", "agents") or "agents",
    )


def upgrade() -> None:
    tenants, agents = _names()
    dialect = op.get_bind().dialect.name
    postgres = dialect == "postgresql"
    uuid_default = sa.text("gen_random_uuid()") if postgres else sa.text("(lower(hex(randomblob(16))))")

    columns = [
        sa.Column("id", sa.Uuid, primary_key=True, server_default=uuid_default),
        sa.Column(
            "tenant_id", sa.Uuid, sa.ForeignKey(f"{tenants}.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("agent_id", sa.Uuid, sa.ForeignKey(f"{agents}.id", ondelete="SET NULL"), nullable=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("metric_type", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]
    if postgres:
        columns.append(
            sa.UniqueConstraint(
                "tenant_id",
                "agent_id",
                "date",
                "metric_type",
                name="uq_daily_aggregate",
                postgresql_nulls_not_distinct=True,
            )
        )
    op.create_table(TABLE, *columns)
    if not postgres:
        op.create_index(
            "uq_daily_aggregate",
            TABLE,
            ["tenant_id", sa.text("coalesce(agent_id, '')"), "date", "metric_type"],
            unique=True,
        )
    op.create_index("idx_analytics_tenant_date", TABLE, ["tenant_id", "date"])
    op.create_index(
        "idx_analytics_agent_date",
        TABLE,
        ["agent_id", "date"],
        postgresql_where=sa.text("agent_id IS NOT NULL"),
        sqlite_where=sa.text("agent_id IS NOT NULL"),
    )

    op.create_table(
        LEDGER,
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("aggregated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("rows_in", sa.BigInteger, nullable=False),
        sa.Column("rows_out", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )

    if postgres:
        op.execute(
            f"""
            CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              -- A tenant being deleted takes its aggregates with it: nothing to fold.
              IF EXISTS (SELECT 1 FROM {tenants} WHERE id = OLD.tenant_id) THEN
                INSERT INTO {TABLE} AS a (tenant_id, agent_id, date, metric_type, count)
                SELECT tenant_id, NULL::uuid, date, metric_type, count
                  FROM {TABLE} WHERE agent_id = OLD.id
                ON CONFLICT ON CONSTRAINT uq_daily_aggregate
                DO UPDATE SET count = a.count + EXCLUDED.count, updated_at = now();
              END IF;
              DELETE FROM {TABLE} WHERE agent_id = OLD.id;
              RETURN OLD;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE DELETE ON {agents} "
            f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()"
        )
    else:
        op.execute(
            f"""
            CREATE TRIGGER {TRIGGER} BEFORE DELETE ON {agents}
            BEGIN
              INSERT INTO {TABLE} (tenant_id, agent_id, date, metric_type, count)
              SELECT tenant_id, NULL, date, metric_type, count
                FROM {TABLE}
               WHERE agent_id = OLD.id AND EXISTS (SELECT 1 FROM {tenants} WHERE id = OLD.tenant_id)
              ON CONFLICT (tenant_id, coalesce(agent_id, ''), date, metric_type)
              DO UPDATE SET count = count + excluded.count, updated_at = CURRENT_TIMESTAMP;
              DELETE FROM {TABLE} WHERE agent_id = OLD.id;
            END
            """
        )


def downgrade() -> None:
    _, agents = _names()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {agents}")
        op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    op.drop_table(LEDGER)
    op.drop_table(TABLE)
