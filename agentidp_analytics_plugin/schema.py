"""Table definitions the plugin queries, as SQLAlchemy Core tables.

The plugin's own tables are owned by its Alembic revisions, not by ``create_all``:
these definitions live on a private ``MetaData`` so that the host's
``db.create_all()`` never creates a copy without the constraint and trigger the
migration installs. Host tables are described by the few columns the plugin
reads (the host contract), under the names the host configured.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

AGGREGATES_TABLE = "analytics_daily_aggregates"
LEDGER_TABLE = "analytics_aggregated_days"
JOB_STATE_TABLE = "analytics_job_state"
UNIQUE_CONSTRAINT = "uq_daily_aggregate"
CALL_PATTERNS_TABLE = "analytics_call_patterns"
CALL_PATTERN_BATCHES_TABLE = "analytics_call_pattern_batches"
CALL_PATTERNS_UNIQUE = "uq_call_pattern"
TENANT_DAILY_TABLE = "analytics_tenant_daily"
AGENT_WEEKLY_TABLE = "analytics_agent_weekly"
ACTIVE_AGENTS_TABLE = "analytics_active_agents"

#: The metric types the spec names. The roll-up copies whatever the host
#: records; the API reads these four.
METRIC_TYPES = ("api_calls", "token_issuances", "credential_rotations", "token_failures")

#: Stands in for a NULL agent in SQLite's unique index, which has no
#: ``NULLS NOT DISTINCT``. Must stay a literal: SQLite matches ON CONFLICT
#: targets against the index expression text.
SQLITE_NULL_AGENT = "''"

#: The metric groups whose distinct active agents the API counts (see
#: :mod:`.rollups`): the summary's active agents (any of the four metrics)
#: and the token trends' unique agents (issuances and failures).
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "usage": METRIC_TYPES,
    "tokens": ("token_issuances", "token_failures"),
}

#: The metrics agent activity shows, and ranks agents by.
ACTIVITY_METRICS = ("api_calls", "token_issuances", "credential_rotations")


@dataclass(frozen=True)
class Tables:
    """The tables of one app: the plugin's own (aggregates, ledger, roll-ups, call patterns) and the host's three."""

    aggregates: sa.Table
    ledger: sa.Table
    tenants: sa.Table
    agents: sa.Table
    usage_events: sa.Table
    #: Daily per-endpoint call counts and the ledger of the batches added to them.
    call_patterns: sa.Table
    call_pattern_batches: sa.Table
    #: One row: the first day with usage events and the aggregate generation (see :mod:`.job_state`).
    job_state: sa.Table
    tenant_daily: sa.Table
    agent_weekly: sa.Table
    active_agents: sa.Table

    @property
    def plugin_tables(self) -> tuple[sa.Table, ...]:
        return (
            self.aggregates,
            self.ledger,
            self.job_state,
            self.tenant_daily,
            self.agent_weekly,
            self.active_agents,
        )


def build_tables(tenants: str = "tenants", agents: str = "agents", usage_events: str = "usage_events") -> Tables:
    """Describe the tables for one host's naming, on a fresh ``MetaData``."""
    metadata = sa.MetaData()
    tenants_t = sa.Table(tenants, metadata, sa.Column("id", sa.Uuid, primary_key=True), sa.Column("tier", sa.String))
    agents_t = sa.Table(
        agents,
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid),
        sa.Column("name", sa.String),
    )
    events_t = sa.Table(
        usage_events,
        metadata,
        sa.Column("tenant_id", sa.Uuid),
        sa.Column("agent_id", sa.Uuid, nullable=True),
        sa.Column("date", sa.Date),
        sa.Column("metric_type", sa.String(64)),
        sa.Column("count", sa.BigInteger),
    )
    aggregates_t = sa.Table(
        AGGREGATES_TABLE,
        metadata,
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("agent_id", sa.Uuid, nullable=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("metric_type", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    ledger_t = sa.Table(
        LEDGER_TABLE,
        metadata,
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("aggregated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_in", sa.BigInteger, nullable=False),
        sa.Column("rows_out", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    call_patterns_t = sa.Table(
        CALL_PATTERNS_TABLE,
        metadata,
        sa.Column("tenant_id", sa.Uuid, nullable=False),
        sa.Column("agent_id", sa.Uuid, nullable=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("route", sa.String(255), nullable=False),
        sa.Column("status_class", sa.String(8), nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.Column("latency_ms_sum", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    batches_t = sa.Table(
        CALL_PATTERN_BATCHES_TABLE,
        metadata,
        sa.Column("batch_key", sa.String(200), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
    )
    job_state_t = sa.Table(
        JOB_STATE_TABLE,
        metadata,
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("first_event_day", sa.Date, nullable=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    tenant_daily_t = sa.Table(
        TENANT_DAILY_TABLE,
        metadata,
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("metric_type", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    agent_weekly_t = sa.Table(
        AGENT_WEEKLY_TABLE,
        metadata,
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("week", sa.Date, primary_key=True),
        sa.Column("agent_id", sa.Uuid, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    active_agents_t = sa.Table(
        ACTIVE_AGENTS_TABLE,
        metadata,
        sa.Column("tenant_id", sa.Uuid, primary_key=True),
        sa.Column("metric_group", sa.String(16), primary_key=True),
        sa.Column("date", sa.Date, primary_key=True),
        sa.Column("prev_date", sa.Date, primary_key=True),
        sa.Column("agents", sa.BigInteger, nullable=False),
    )
    return Tables(
        aggregates_t,
        ledger_t,
        tenants_t,
        agents_t,
        events_t,
        call_patterns_t,
        batches_t,
        job_state_t,
        tenant_daily_t,
        agent_weekly_t,
        active_agents_t,
    )
