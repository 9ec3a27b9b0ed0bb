"""Add analytics_call_patterns (daily per-endpoint call counts) and its flush ledger.

Revision ID: 010_add_analytics_call_patterns
Revises: 009_add_analytics_aggregates

``analytics_call_patterns`` holds, per tenant, agent (NULL: a call no agent
made), UTC day, HTTP method, route template and status class, the number of
calls and their summed latency. The request hook counts in memory or Redis;
the flush adds those counts here (see ``agentidp_analytics_plugin.call_flush``).

* The unique key treats a NULL agent as one value, as the daily aggregates'
  does: PostgreSQL ``UNIQUE NULLS NOT DISTINCT``, SQLite a unique index on
  ``coalesce(agent_id, '')`` that the upsert names as its conflict target.
* ``agent_id`` has no foreign key on purpose: a deleted agent's calls stay in
  the tenant's totals (the per-agent lists show it without a name), and a
  count can never fail its flush because its agent went away meanwhile.
  ``tenant_id`` cascades: a deleted tenant takes its rows with it.
* ``analytics_call_pattern_batches`` records every batch of counts added,
  in the same transaction as the additions: a batch applied twice (a flusher
  that died after committing, two flushers at once) is added once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = "010_add_analytics_call_patterns"
down_revision = "009_add_analytics_aggregates"
branch_labels = None
depends_on = None

TABLE = "analytics_call_patterns"
BATCHES = "analytics_call_pattern_batches"
UNIQUE = "uq_call_pattern"
DIMENSIONS = ["tenant_id", "agent_id", "date", "method", "route", "status_class"]


def _tenants() -> str:
    if has_app_context():
        return current_app.config.get("ANALYTICS_TENANTS_TABLE") or "tenants"
    return "tenants"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    columns: list = [
        sa.Column("tenant_id", sa.Uuid, sa.ForeignKey(f"{_tenants()}.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent_id", sa.Uuid, nullable=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("status_class", sa.String(8), nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("latency_ms_sum", sa.Float, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]
    if postgres:
        columns.append(sa.UniqueConstraint(*DIMENSIONS, name=UNIQUE, postgresql_nulls_not_distinct=True))
    op.create_table(TABLE, *columns)
    if not postgres:
        op.create_index(
            UNIQUE,
            TABLE,
            ["tenant_id", sa.text("coalesce(agent_id, '')"), "date", "method", "route", "status_class"],
            unique=True,
        )
    op.create_index("idx_analytics_call_patterns_tenant_date", TABLE, ["tenant_id", "date"])

    op.create_table(
        BATCHES,
        sa.Column("batch_key", sa.String(200), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
    )
    op.create_index("idx_analytics_call_pattern_batches_applied", BATCHES, ["applied_at"])


def downgrade() -> None:
    op.drop_table(BATCHES)
    op.drop_table(TABLE)
