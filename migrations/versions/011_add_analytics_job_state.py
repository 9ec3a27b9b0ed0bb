"""Add analytics_job_state: the first day with usage events and the aggregate generation.

Revision ID: 011_add_analytics_job_state
Revises: 010_add_analytics_call_patterns

One row (``id`` = 1) that the roll-up keeps in the same transactions as the
aggregates it writes:

* ``first_event_day``: the earliest ``usage_events.date``. The scheduled run
  catches up every day from there (not from the first day in the ledger, which
  a one-day ``--date`` run could have made a recent one), and
  ``dataCompleteThrough`` counts from there. The upgrade fills it with
  ``MIN(date)`` over the host's ``usage_events``: an index probe when the host
  has an index leading with ``date``, one full scan otherwise.
* ``generation``: bumped whenever a run changes an aggregate or the ledger; it
  is part of every response cache key, so no answer computed before a
  re-aggregation is served after it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from flask import current_app, has_app_context

revision = "011_add_analytics_job_state"
down_revision = "010_add_analytics_call_patterns"
branch_labels = None
depends_on = None

TABLE = "analytics_job_state"


def _usage_events() -> str:
    if has_app_context():
        return current_app.config.get("ANALYTICS_USAGE_EVENTS_TABLE") or "usage_events"
    return "usage_events"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("first_event_day", sa.Date, nullable=True),
        sa.Column("generation", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="ck_analytics_job_state_one_row"),
    )
    events = sa.table(_usage_events(), sa.column("date", sa.Date))
    state = sa.table(
        TABLE, sa.column("id", sa.SmallInteger), sa.column("first_event_day", sa.Date), sa.column("generation")
    )
    first_day = sa.select(sa.func.min(events.c.date)).scalar_subquery()
    op.execute(
        state.insert().from_select(
            ["id", "first_event_day", "generation"], sa.select(sa.literal(1), first_day, sa.literal(0))
        )
    )


def downgrade() -> None:
    op.drop_table(TABLE)
