"""The nightly roll-up of ``usage_events`` into ``analytics_daily_aggregates``.

Each day is one transaction of a fixed number of set-based statements, all
executed by the database (never a Python loop over events):

1. ``INSERT ... SELECT ... GROUP BY`` records the groups that are new or whose
   sum moved, and the groups gone from the source, in a temporary table of
   changes (old and new counts), so a re-run that changes nothing writes
   nothing;
2. ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` writes the changed sums and a
   ``DELETE`` drops the gone groups, so aggregates for day D always equal the
   sums of usage_events for D;
3. the roll-ups (:mod:`.rollups`) move by the same changes;
4. an upsert into the ledger records that D is complete, and the job state
   (:mod:`.job_state`) takes a new generation if anything changed.

A failure anywhere rolls the whole day back, ledger included, so the next run
sees the day as missing and retries it. Which days run: every day missing from
the ledger from the first day with usage events up to yesterday (a missed
night, or a history only partly backfilled with ``--date``, is caught up),
plus a recent window that is always redone for events that arrive late.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from . import job_state, locking, rollups
from .schema import UNIQUE_CONSTRAINT, Tables

log = logging.getLogger(__name__)


@dataclass
class DayResult:
    day: date
    rows_in: int
    rows_out: int
    changed: int
    seconds: float


@dataclass
class AggregationReport:
    """What one run did. ``status`` is "ran", or "skipped" when another process held the lock."""

    status: str = "ran"
    days: list[date] = field(default_factory=list)
    rows_in: int = 0
    rows_out: int = 0
    changed: int = 0
    seconds: float = 0.0
    failed: dict[date, str] = field(default_factory=dict)
    #: The aggregate generation after the run (see :mod:`.job_state`).
    generation: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ran" and not self.failed

    def add(self, result: DayResult) -> None:
        self.days.append(result.day)
        self.rows_in += result.rows_in
        self.rows_out += result.rows_out
        self.changed += result.changed


def utc_today() -> date:
    return datetime.now(UTC).date()


def _dialect_insert(conn: Connection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _conflict_target(conn: Connection, table: sa.Table) -> dict:
    if conn.dialect.name == "postgresql":
        return {"constraint": UNIQUE_CONSTRAINT}
    # Must match the unique expression index the migration creates on SQLite.
    return {
        "index_elements": [
            table.c.tenant_id,
            sa.text("coalesce(agent_id, '')"),
            table.c.date,
            table.c.metric_type,
        ]
    }


#: Stands in for a NULL agent in join keys: hash joins need plain equality,
#: and ``IS NOT DISTINCT FROM`` is only usable as a row-by-row filter. No
#: agent has the nil UUID.
NIL_AGENT = uuid.UUID(int=0)


def _agent_key(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(column, sa.literal(NIL_AGENT, sa.Uuid))


#: ``work_mem`` of the job's transaction on PostgreSQL. With the default 4 MB, grouping a day of
#: 100,000 groups already spilled to disk in batches, and so did the roll-ups' sorts; one job at
#: night can use more.
JOB_WORK_MEM = "64MB"


def on_day(agg: sa.Table, tenants: sa.Table, day: date) -> list[sa.ColumnElement[bool]]:
    """The aggregate rows of ``day``, found by one probe of the (tenant_id, date) index per tenant.

    No index of the aggregates leads with the date: ``date = day`` alone made
    PostgreSQL read the whole (tenant_id, date) index, a cost that grows with
    every day kept. Every row's tenant is in ``tenants`` (foreign key), so the
    probes find the same rows.
    """
    return [agg.c.tenant_id.in_(sa.select(tenants.c.id)), agg.c.date == day]


def aggregate_day(conn: Connection, tables: Tables, day: date) -> DayResult:
    """Roll ``day`` up inside the caller's transaction, roll-ups (:mod:`.rollups`) included."""
    started = time.perf_counter()
    events, agg, ledger = tables.usage_events, tables.aggregates, tables.ledger
    insert = _dialect_insert(conn)
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SET LOCAL work_mem = '{JOB_WORK_MEM}'"))

    sums = (
        sa.select(
            events.c.tenant_id,
            events.c.agent_id,
            events.c.date,
            events.c.metric_type,
            sa.func.sum(events.c.count).label("count"),
        )
        .where(events.c.date == day)
        .group_by(events.c.tenant_id, events.c.agent_id, events.c.date, events.c.metric_type)
        .subquery("sums")
    )
    # Only groups that are new, whose sum moved or that are gone from the
    # source are recorded as changes: an unchanged row would still pay for a
    # speculative insert and conflict check, and the nightly window re-runs
    # days that mostly did not change. The changes (with their old counts)
    # then move the aggregates and the roll-ups alike, so a re-run that
    # changes nothing writes nothing.
    changes = rollups.changes_table()
    rollups.create_temporary(conn, changes)
    columns = ["row_id", "tenant_id", "agent_id", "metric_type", "new_count", "old_count"]
    for changed_groups in _changed_groups(conn, tables, sums, day):
        conn.execute(changes.insert().from_select(columns, changed_groups))

    upsert = insert(agg).from_select(
        ["tenant_id", "agent_id", "date", "metric_type", "count"],
        sa.select(
            changes.c.tenant_id,
            changes.c.agent_id,
            sa.literal(day, sa.Date),
            changes.c.metric_type,
            changes.c.new_count,
        )
        .where(changes.c.new_count.is_not(None))
        # A tenant's rows of the day land side by side: the roll-ups' recount and later reads of
        # the tenant's day visit a few pages instead of one page per row.
        .order_by(changes.c.tenant_id, changes.c.agent_id, changes.c.metric_type),
        include_defaults=False,
    )
    upsert = upsert.on_conflict_do_update(
        **_conflict_target(conn, agg),
        set_={"count": upsert.excluded["count"], "updated_at": sa.func.now()},
    )
    changed = conn.execute(upsert.execution_options(preserve_rowcount=True)).rowcount
    changed += conn.execute(
        sa.delete(agg).where(
            agg.c.date == day,  # prunes to the day's partition on the partitioned layout
            agg.c.id.in_(sa.select(changes.c.row_id).where(changes.c.new_count.is_(None))),
        )
    ).rowcount
    rollups.apply_day_changes(conn, tables, day, changes)
    changes.drop(conn)
    new_day = conn.execute(sa.select(ledger.c.date).where(ledger.c.date == day)).first() is None

    rows_in = conn.execute(sa.select(sa.func.count()).select_from(events).where(events.c.date == day)).scalar_one()
    rows_out = conn.execute(
        sa.select(sa.func.count()).select_from(agg).where(*on_day(agg, tables.tenants, day))
    ).scalar_one()
    seconds = time.perf_counter() - started
    record = insert(ledger).values(
        date=day, aggregated_at=sa.func.now(), rows_in=rows_in, rows_out=rows_out, duration_ms=seconds * 1000
    )
    conn.execute(
        record.on_conflict_do_update(
            index_elements=[ledger.c.date],
            set_={
                "aggregated_at": record.excluded.aggregated_at,
                "rows_in": record.excluded.rows_in,
                "rows_out": record.excluded.rows_out,
                "duration_ms": record.excluded.duration_ms,
            },
        )
    )
    if changed or new_day:
        # A day with events before the known first one moves it; either changes what is complete.
        job_state.record(conn, tables, first_event_day=day if rows_in else None, bump=True)
    return DayResult(day, rows_in, rows_out, changed, seconds)


def _changed_groups(conn: Connection, tables: Tables, sums: sa.Subquery, day: date) -> list[sa.Select[Any]]:
    """SELECTs of (row_id, tenant_id, agent_id, metric_type, new_count, old_count) of the day's changed groups.

    PostgreSQL: one hash FULL JOIN of the source's sums with the day's
    aggregates, which reads the day's events once. SQLite (whose FULL JOIN is
    recent): the new or moved groups, then the aggregates whose group is gone.
    """
    agg, events = tables.aggregates, tables.usage_events
    if conn.dialect.name == "postgresql":
        current = (
            sa.select(agg.c.id, agg.c.tenant_id, agg.c.agent_id, agg.c.metric_type, agg.c["count"])
            .where(*on_day(agg, tables.tenants, day))
            .subquery("current")
        )
        both = sums.outerjoin(
            current,
            sa.and_(
                current.c.tenant_id == sums.c.tenant_id,
                current.c.metric_type == sums.c.metric_type,
                _agent_key(current.c.agent_id) == _agent_key(sums.c.agent_id),
            ),
            full=True,
        )
        return [
            sa.select(
                current.c.id,
                sa.func.coalesce(sums.c.tenant_id, current.c.tenant_id),
                sa.func.coalesce(sums.c.agent_id, current.c.agent_id),
                sa.func.coalesce(sums.c.metric_type, current.c.metric_type),
                sums.c["count"],
                current.c["count"],
            )
            .select_from(both)
            .where(current.c["count"].is_distinct_from(sums.c["count"]))
        ]
    current = agg.alias("current")
    changed_sums = (
        sa.select(sa.null(), sums.c.tenant_id, sums.c.agent_id, sums.c.metric_type, sums.c["count"], current.c["count"])
        .select_from(
            sums.outerjoin(
                current,
                sa.and_(
                    current.c.date == day,
                    current.c.tenant_id == sums.c.tenant_id,
                    current.c.metric_type == sums.c.metric_type,
                    _agent_key(current.c.agent_id) == _agent_key(sums.c.agent_id),
                ),
            )
        )
        .where(current.c["count"].is_distinct_from(sums.c["count"]))
    )
    same_group = (
        sa.select(sa.literal(1))
        .select_from(events)
        .where(
            events.c.date == day,
            events.c.tenant_id == agg.c.tenant_id,
            events.c.metric_type == agg.c.metric_type,
            _agent_key(events.c.agent_id) == _agent_key(agg.c.agent_id),
        )
    )
    gone = sa.select(agg.c.id, agg.c.tenant_id, agg.c.agent_id, agg.c.metric_type, sa.null(), agg.c["count"]).where(
        agg.c.date == day, ~same_group.exists()
    )
    return [changed_sums, gone]


def aggregated_days(conn: Connection, tables: Tables, since: date | None = None) -> list[date]:
    """The days in the ledger (from ``since`` on), oldest first."""
    ledger = tables.ledger
    query = sa.select(ledger.c.date).order_by(ledger.c.date)
    if since is not None:
        query = query.where(ledger.c.date >= since)
    return [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in conn.execute(query).scalars()]


def find_first_event_day(conn: Connection, tables: Tables, stored: date | None) -> date | None:
    """Probe for usage events before the ``stored`` first day; store what is found (own transaction).

    Moving the first day back changes what is complete, so it takes a new generation.
    """
    found = job_state.probe_first_event_day(conn, tables, stored)
    if found != stored:
        job_state.record(conn, tables, first_event_day=found, bump=True)
    conn.commit()
    return found


def pending_days(
    conn: Connection, tables: Tables, today: date, window: int, first_event_day: date | None
) -> list[date]:
    """Days the scheduled run should (re)aggregate, oldest first.

    Every day from ``first_event_day`` (the earliest day with usage events)
    up to yesterday that the ledger lacks, plus the last ``window`` days
    whatever the ledger says.
    """
    if first_event_day is None:
        return []
    yesterday = today - timedelta(days=1)
    start = first_event_day
    done = set(aggregated_days(conn, tables, since=start))
    days = {start + timedelta(days=i) for i in range((yesterday - start).days + 1)} - done
    days |= {yesterday - timedelta(days=i) for i in range(window)}
    return sorted(d for d in days if start <= d <= yesterday)


def complete_through(days_done: Iterable[date], first_event_day: date | None, today: date) -> date | None:
    """The last day D before ``today`` such that every day from ``first_event_day`` through D is aggregated.

    None while the first day with events is not aggregated (or no usage was
    ever seen): no day can be claimed complete then.
    """
    if first_event_day is None:
        return None
    done = {d for d in days_done if first_event_day <= d < today}
    if first_event_day not in done:
        return None
    last = first_event_day
    while last + timedelta(days=1) in done:
        last += timedelta(days=1)
    return last


ProgressCallback = Callable[[DayResult | None, date], None]


class Maintenance(Protocol):
    """Work on the plugin's tables that must not overlap a roll-up (partitions, retention)."""

    def before(self, conn: Connection, days: list[date], today: date) -> None: ...

    def after(self, conn: Connection, today: date) -> None: ...


def run_aggregation(
    engine: Engine,
    tables: Tables,
    *,
    days: Iterable[date] | None = None,
    today: date | None = None,
    window: int = 3,
    on_day: ProgressCallback | None = None,
    already_done: Callable[[Connection], bool] | None = None,
    maintenance: Maintenance | None = None,
    on_generation: Callable[[int], None] | None = None,
) -> AggregationReport:
    """Aggregate ``days`` (default: the pending ones), one transaction per day.

    Holds the advisory lock for the whole run; returns a "skipped" report at
    once if another process has it, and a "done-elsewhere" one if
    ``already_done`` (checked under the lock) says the work is already done.
    ``maintenance`` runs under the same lock, before and after the days. A day that fails is rolled back, logged
    and reported in ``failed``; the other days still run. Every run first
    looks for usage events before the known first day (see :mod:`.job_state`).
    ``on_generation`` is called with the new generation, still under the
    lock, when the run changed anything (the cache mirrors it).
    """
    today = today or utc_today()
    report = AggregationReport()
    started = time.perf_counter()
    with engine.connect() as conn:
        if not locking.try_lock(conn):
            report.status = "skipped"
            log.info("Analytics aggregation skipped: another process holds the lock.")
            return report
        try:
            if already_done is not None and already_done(conn):
                report.status = "done-elsewhere"
                log.info("Analytics aggregation not needed: this slot's run already finished.")
                return report
            before = job_state.read(conn, tables)
            first_event_day = find_first_event_day(conn, tables, before.first_event_day)
            todo = sorted(set(days)) if days is not None else pending_days(conn, tables, today, window, first_event_day)
            conn.commit()
            if maintenance is not None:
                maintenance.before(conn, todo, today)
            for day in todo:
                try:
                    with conn.begin():
                        result = aggregate_day(conn, tables, day)
                except SQLAlchemyError as exc:
                    report.failed[day] = str(exc.orig if getattr(exc, "orig", None) else exc).strip()
                    log.exception("Analytics aggregation of %s failed and was rolled back.", day)
                    if on_day:
                        on_day(None, day)
                    continue
                report.add(result)
                if on_day:
                    on_day(result, day)
            if maintenance is not None:
                maintenance.after(conn, today)
            report.generation = job_state.read(conn, tables).generation
            conn.commit()
            if on_generation and report.generation != before.generation:
                on_generation(report.generation)
        finally:
            try:
                if conn.in_transaction():
                    conn.rollback()
                locking.unlock(conn)
            except SQLAlchemyError:  # connection lost: closing it releases the lock anyway
                log.warning("Could not release the analytics aggregation lock cleanly.", exc_info=True)
    report.seconds = time.perf_counter() - started
    return report
