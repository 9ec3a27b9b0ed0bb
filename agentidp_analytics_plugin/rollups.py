"""Roll-ups of the daily aggregates, kept so that every read costs the size of its answer.

``analytics_daily_aggregates`` holds one row per tenant, agent, day and metric:
a year of a tenant with 1,000 agents is 1.46 M rows, and summing them to print
four numbers costs the size of the tenant. The nightly job therefore keeps
three roll-ups beside the aggregates, in the same transaction as the day's
aggregates (so the two can never disagree), from the groups that changed:

``analytics_tenant_daily`` (tenant, date, metric_type, count)
    The tenant's sum of each metric per day, tenant-wide rows included: the
    usage summary's totals and peak day and the token trends' sums read
    days x metrics rows, whatever the number of agents.

``analytics_agent_weekly`` (tenant, ISO week's Monday, agent, count)
    Each agent's sum of the metrics agent activity shows, per ISO week: the
    ranking of agent activity reads one row per agent and week for the whole
    weeks of the period and the aggregate rows of the partial weeks at its
    ends only, instead of every agent-day.

``analytics_active_agents`` (tenant, metric_group, date, prev_date, agents)
    Exact distinct counts of active agents. Distinct counts are not additive
    (an agent active on Monday and Tuesday is one agent of the week, not
    two), so this table counts *first occurrences*. An agent is active on a
    day in a metric group when one of its aggregate rows of the group's
    metrics that day has a count above zero; ``prev_date`` is the agent's
    previous active day in the group, or :data:`NEVER` for its first. A row
    counts the agents active on ``date`` whose previous active day was
    ``prev_date``. An agent is active somewhere in ``[a, b]`` exactly when
    exactly one of its active days ``d`` in ``[a, b]`` has a previous active
    day before ``a`` (its first active day in the range), so::

        distinct active agents in [a, b] = SUM(agents) WHERE date BETWEEN a AND b AND prev_date < a

    This is exact for any range, the summary's period and every (clipped)
    ISO week of the trends alike, and reads at most (days x distinct gaps)
    rows: one row per day for agents active every day, never more rows than
    agent-days. Groups: ``usage`` (the summary's four metrics) and
    ``tokens`` (issuances and failures, the trends' unique agents).

Why the counts stay exact: counts of usage are never negative, so "the
period's sum is above zero" (the raw queries' test of activity) is the same as
"some row of the period is above zero".

Maintenance. The day's job records every group it changes (new, updated or
gone, with its old and new count) in a temporary table; the tenant and weekly
sums move by the difference, and rows that reach zero are dropped. For the
first occurrences, a change to agent A on day D can change D's row of A and
the row of A's next active day after D (whose previous day may now be D, or
no longer D); those (tenant, group, day) triples are recounted from the
aggregates, each agent's previous day being one backward probe of the index on
(agent_id, date). A re-run that changes nothing costs nothing here. Deleting
an agent (the aggregates' trigger folds its rows into the tenant-wide rows)
removes the agent's weekly rows and its first occurrences in the same
trigger; tenant sums do not move.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .schema import ACTIVITY_METRICS, METRIC_GROUPS, Tables

#: ``prev_date`` of an agent's first active day in a group: before every period.
NEVER = date(1, 1, 1)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


@functools.cache
def changes_table() -> sa.Table:
    """The day's changed groups: a temporary table, created afresh in each day's transaction.

    ``old_count`` is NULL for a new group, ``new_count`` NULL for a group gone
    from the source (``row_id`` is then the aggregate row to delete). One
    ``Table`` object for the process: SQLAlchemy keys its cache of compiled
    statements by the tables they name, so a new object each day would
    compile every statement of the day again (most of a day's run on SQLite).
    """
    return sa.Table(
        "analytics_day_changes",
        sa.MetaData(),
        sa.Column("row_id", sa.Uuid),
        sa.Column("tenant_id", sa.Uuid),
        sa.Column("agent_id", sa.Uuid),
        sa.Column("metric_type", sa.String(64)),
        sa.Column("new_count", sa.BigInteger),
        sa.Column("old_count", sa.BigInteger),
        prefixes=["TEMPORARY"],
    )


@functools.cache
def _affected_table() -> sa.Table:
    """The day's affected (tenant, metric group, date) rows; one object for the process, as :func:`changes_table`."""
    return sa.Table(
        "analytics_day_affected",
        sa.MetaData(),
        sa.Column("tenant_id", sa.Uuid),
        sa.Column("metric_group", sa.String(16)),
        sa.Column("date", sa.Date),
        prefixes=["TEMPORARY"],
    )


def create_temporary(conn: Connection, table: sa.Table) -> None:
    """Create the temporary ``table`` afresh on ``conn``.

    A copy left by an earlier day of the same connection that failed goes
    first: SQLite's driver runs DDL outside the transaction it rolls back.
    """
    schema = "pg_temp" if conn.dialect.name == "postgresql" else "temp"
    conn.execute(sa.text(f"DROP TABLE IF EXISTS {schema}.{table.name}"))
    table.create(conn)


def _insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _delta(changes: sa.Table) -> sa.ColumnElement[Any]:
    moved = sa.func.coalesce(changes.c.new_count, 0) - sa.func.coalesce(changes.c.old_count, 0)
    return sa.cast(sa.func.sum(moved), sa.BigInteger)


def apply_day_changes(conn: Connection, tables: Tables, day: date, changes: sa.Table) -> None:
    """Move every roll-up by the day's changed groups, in the caller's transaction (after the aggregates moved)."""
    insert = _insert(conn)
    changed_tenants = sa.select(changes.c.tenant_id).distinct()

    # Tenant sums per day and metric.
    daily = tables.tenant_daily
    upsert = insert(daily).from_select(
        ["tenant_id", "date", "metric_type", "count"],
        sa.select(changes.c.tenant_id, sa.literal(day, sa.Date), changes.c.metric_type, _delta(changes))
        .where(sa.true())
        .group_by(changes.c.tenant_id, changes.c.metric_type),
    )
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[daily.c.tenant_id, daily.c.date, daily.c.metric_type],
            set_={"count": daily.c["count"] + upsert.excluded["count"]},
        )
    )
    conn.execute(
        sa.delete(daily).where(daily.c.date == day, daily.c["count"] == 0, daily.c.tenant_id.in_(changed_tenants))
    )

    # Agent sums per ISO week, for ranking agent activity.
    weekly, week = tables.agent_weekly, week_start(day)
    upsert = insert(weekly).from_select(
        ["tenant_id", "week", "agent_id", "count"],
        sa.select(changes.c.tenant_id, sa.literal(week, sa.Date), changes.c.agent_id, _delta(changes))
        .where(changes.c.agent_id.is_not(None), changes.c.metric_type.in_(ACTIVITY_METRICS))
        .group_by(changes.c.tenant_id, changes.c.agent_id),
    )
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[weekly.c.tenant_id, weekly.c.week, weekly.c.agent_id],
            set_={"count": weekly.c["count"] + upsert.excluded["count"]},
        )
    )
    conn.execute(
        sa.delete(weekly).where(weekly.c.week == week, weekly.c["count"] == 0, weekly.c.tenant_id.in_(changed_tenants))
    )

    _recount_first_occurrences(conn, tables, day, changes)


def _active_day(agg: sa.Table | sa.Alias, metrics: tuple[str, ...]) -> list[sa.ColumnElement[bool]]:
    return [agg.c.agent_id.is_not(None), agg.c.metric_type.in_(metrics), agg.c["count"] > 0]


def _recount_first_occurrences(conn: Connection, tables: Tables, day: date, changes: sa.Table) -> None:
    agg, active = tables.aggregates, tables.active_agents
    affected = _affected_table()
    create_temporary(conn, affected)
    parts = []
    for group, metrics in METRIC_GROUPS.items():
        touched = (
            sa.select(changes.c.tenant_id, changes.c.agent_id)
            .where(changes.c.agent_id.is_not(None), changes.c.metric_type.in_(metrics))
            .distinct()
            .subquery(f"touched_{group}")
        )
        later = agg.alias(f"later_{group}")
        next_day = (
            sa.select(sa.func.min(later.c.date))
            .where(
                later.c.agent_id == touched.c.agent_id,
                later.c.tenant_id == touched.c.tenant_id,
                later.c.date > day,
                *_active_day(later, metrics),
            )
            .scalar_subquery()
        )
        nexts = sa.select(touched.c.tenant_id, next_day.label("date")).subquery(f"nexts_{group}")
        label = sa.literal(group, sa.String)
        parts.append(sa.select(touched.c.tenant_id, label, sa.literal(day, sa.Date)).distinct())
        parts.append(sa.select(nexts.c.tenant_id, label, nexts.c.date).where(nexts.c.date.is_not(None)).distinct())
    conn.execute(affected.insert().from_select(["tenant_id", "metric_group", "date"], sa.union(*parts)))

    conn.execute(
        sa.delete(active).where(
            sa.tuple_(active.c.tenant_id, active.c.metric_group, active.c.date).in_(
                sa.select(affected.c.tenant_id, affected.c.metric_group, affected.c.date)
            )
        )
    )
    counted = []
    for group, metrics in METRIC_GROUPS.items():
        agent_days = (
            sa.select(agg.c.tenant_id, agg.c.date, agg.c.agent_id)
            .select_from(
                agg.join(
                    affected,
                    sa.and_(
                        affected.c.tenant_id == agg.c.tenant_id,
                        affected.c.date == agg.c.date,
                        affected.c.metric_group == group,
                    ),
                )
            )
            .where(*_active_day(agg, metrics))
            .distinct()
            .subquery(f"agent_days_{group}")
        )
        counted.append(first_occurrences(agg, agent_days, group, metrics))
    rows = sa.union_all(*counted).subquery("firsts")
    conn.execute(
        active.insert().from_select(
            ["tenant_id", "metric_group", "date", "prev_date", "agents"],
            sa.select(rows.c.tenant_id, rows.c.metric_group, rows.c.date, rows.c.prev_date, sa.func.count()).group_by(
                rows.c.tenant_id, rows.c.metric_group, rows.c.date, rows.c.prev_date
            ),
        )
    )
    affected.drop(conn)


def first_occurrences(agg: sa.Table, agent_days: sa.Subquery, group: str, metrics: tuple[str, ...]) -> sa.Select[Any]:
    """(tenant, group, date, prev_date) of each active agent-day of ``agent_days``, prev_date by index probe."""
    earlier = agg.alias(f"earlier_{group}")
    previous = (
        sa.select(sa.func.max(earlier.c.date))
        .where(
            earlier.c.agent_id == agent_days.c.agent_id,
            earlier.c.tenant_id == agent_days.c.tenant_id,
            earlier.c.date < agent_days.c.date,
            *_active_day(earlier, metrics),
        )
        .scalar_subquery()
    )
    return sa.select(
        agent_days.c.tenant_id,
        sa.literal(group, sa.String).label("metric_group"),
        agent_days.c.date,
        sa.func.coalesce(previous, sa.literal(NEVER, sa.Date)).label("prev_date"),
    )


def forget_before(conn: Connection, tables: Tables, cutoff: date) -> None:
    """Make the roll-ups match aggregates from which every row dated before ``cutoff`` is gone (retention).

    One transaction: day sums before the cut-off go; the week holding the
    cut-off is recounted from the aggregates; first occurrences before it go,
    and a previous active day before it becomes :data:`NEVER` (merged into
    that row), since the aggregates no longer show it. Answers for periods
    from the cut-off on do not move: a previous day before the cut-off was
    already before their start.
    """
    daily, weekly, active, agg = tables.tenant_daily, tables.agent_weekly, tables.active_agents, tables.aggregates
    cut_week = week_start(cutoff)
    with conn.begin():
        conn.execute(sa.delete(daily).where(daily.c.date < cutoff))
        conn.execute(sa.delete(weekly).where(weekly.c.week <= cut_week))
        conn.execute(
            weekly.insert().from_select(
                ["tenant_id", "week", "agent_id", "count"],
                sa.select(agg.c.tenant_id, sa.literal(cut_week, sa.Date), agg.c.agent_id, sa.func.sum(agg.c["count"]))
                .where(
                    agg.c.date.between(cut_week, cut_week + timedelta(days=6)),
                    agg.c.agent_id.is_not(None),
                    agg.c.metric_type.in_(ACTIVITY_METRICS),
                )
                .group_by(agg.c.tenant_id, agg.c.agent_id)
                .having(sa.func.sum(agg.c["count"]) != 0),
            )
        )
        conn.execute(sa.delete(active).where(active.c.date < cutoff))
        stale = sa.and_(active.c.prev_date < cutoff, active.c.prev_date != NEVER)
        merged = (
            sa.select(
                active.c.tenant_id,
                active.c.metric_group,
                active.c.date,
                sa.literal(NEVER, sa.Date).label("prev_date"),
                sa.cast(sa.func.sum(active.c.agents), sa.BigInteger).label("agents"),
            )
            .where(stale)
            .group_by(active.c.tenant_id, active.c.metric_group, active.c.date)
        )
        upsert = _insert(conn)(active).from_select(["tenant_id", "metric_group", "date", "prev_date", "agents"], merged)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[active.c.tenant_id, active.c.metric_group, active.c.date, active.c.prev_date],
                set_={"agents": active.c.agents + upsert.excluded.agents},
            )
        )
        conn.execute(sa.delete(active).where(stale))


def rebuild(conn: Connection, tables: Tables) -> None:
    """Recompute every roll-up from the aggregates (set-based), for data written around the job.

    The nightly job keeps the roll-ups itself; this is for aggregates loaded
    in bulk by other means (benchmarks, restores).
    """
    agg = tables.aggregates
    for table in (tables.tenant_daily, tables.agent_weekly, tables.active_agents):
        conn.execute(sa.delete(table))
    for statement in rebuild_sql(conn.dialect.name, agg.name):
        conn.execute(sa.text(statement))


def rebuild_sql(dialect: str, aggregates: str = "analytics_daily_aggregates") -> list[str]:
    """The three set-based INSERTs that fill the roll-ups from the aggregates."""
    week = "CAST(date_trunc('week', date) AS date)" if dialect == "postgresql" else "date(date, 'weekday 0', '-6 days')"
    never = "DATE '0001-01-01'" if dialect == "postgresql" else "'0001-01-01'"
    activity = ", ".join(f"'{m}'" for m in ACTIVITY_METRICS)
    groups = " UNION ALL ".join(
        f"SELECT '{m}' AS metric_type, '{g}' AS metric_group" for g, ms in METRIC_GROUPS.items() for m in ms
    )
    return [
        f"""
    INSERT INTO analytics_tenant_daily (tenant_id, date, metric_type, count)
    SELECT tenant_id, date, metric_type, SUM(count) FROM {aggregates}
     GROUP BY tenant_id, date, metric_type HAVING SUM(count) <> 0""",
        f"""
    INSERT INTO analytics_agent_weekly (tenant_id, week, agent_id, count)
    SELECT tenant_id, {week}, agent_id, SUM(count) FROM {aggregates}
     WHERE agent_id IS NOT NULL AND metric_type IN ({activity})
     GROUP BY tenant_id, {week}, agent_id HAVING SUM(count) <> 0""",
        f"""
    INSERT INTO analytics_active_agents (tenant_id, metric_group, date, prev_date, agents)
    SELECT tenant_id, metric_group, date, prev_date, COUNT(*) FROM (
      SELECT tenant_id, metric_group, date,
             COALESCE(LAG(date) OVER (PARTITION BY tenant_id, agent_id, metric_group ORDER BY date), {never})
               AS prev_date
        FROM (SELECT DISTINCT a.tenant_id, a.agent_id, g.metric_group, a.date
                FROM {aggregates} a JOIN ({groups}) g ON g.metric_type = a.metric_type
               WHERE a.agent_id IS NOT NULL AND a.count > 0) active_days
    ) firsts
    GROUP BY tenant_id, metric_group, date, prev_date""",
    ]
