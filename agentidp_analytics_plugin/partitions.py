"""The partitioned layout of ``analytics_daily_aggregates`` (PostgreSQL, opt-in) and its monthly partitions.

An install with many tenants keeps about 146 million aggregate rows a year
(1,000 tenants x 100 agents x 4 metrics x 365 days). On the partitioned layout
the table is declaratively range-partitioned by ``date``, one partition a
month: reads of a period touch only its months (the planner prunes the rest),
and retention drops whole months instead of deleting rows one by one.

- :func:`convert` turns the plain table into the partitioned one in one
  transaction (``flask analytics db partition``): same name, columns,
  constraints, indexes and foreign keys, every row copied and counted before
  the old table goes. The unique key already holds ``date``; the primary key
  becomes ``(id, date)``, since a partitioned table's keys must include it.
- :func:`ensure_months` creates the partitions the job is about to write and
  ``ANALYTICS_PARTITIONS_AHEAD`` months beyond today. A ``DEFAULT`` partition
  catches a row whose month has none (nothing is ever refused); creating that
  month later moves its rows out of the default first.

Partition DDL takes a short lock timeout: it must never queue the requests'
reads behind it. If it cannot get its lock it gives up until the next run,
which is harmless, because partitions are made months ahead and the default
partition catches anything else.
"""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import AGGREGATES_TABLE, UNIQUE_CONSTRAINT

log = logging.getLogger(__name__)

DEFAULT_PARTITION = f"{AGGREGATES_TABLE}_default"
#: How long partition DDL waits for its lock before leaving the work to the next run.
DDL_LOCK_TIMEOUT = "1s"


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def add_months(month: date, n: int) -> date:
    for _ in range(n):
        month = next_month(month)
    return month


def partition_name(month: date) -> str:
    return f"{AGGREGATES_TABLE}_{month:%Y_%m}"


def _read(conn: Connection, statement: str, **params: object) -> list:
    """Catalogue rows, in a transaction of their own (callers then open theirs)."""
    rows = conn.execute(sa.text(statement), params).all()
    conn.commit()
    return rows


def is_partitioned(conn: Connection) -> bool:
    """True when ``analytics_daily_aggregates`` is the partitioned layout (never on SQLite)."""
    if conn.dialect.name != "postgresql":
        return False
    return _read(conn, "SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)", t=AGGREGATES_TABLE) == [("p",)]


def months(conn: Connection) -> list[date]:
    """The months that have a partition of their own, oldest first."""
    names = _read(
        conn,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)",
        t=AGGREGATES_TABLE,
    )
    found = []
    for (name,) in names:
        suffix = name.removeprefix(f"{AGGREGATES_TABLE}_")
        if suffix != "default":
            year, month = suffix.split("_")
            found.append(date(int(year), int(month), 1))
    return sorted(found)


def _create_month(conn: Connection, month: date) -> None:
    name, low, high = partition_name(month), month.isoformat(), next_month(month).isoformat()
    stranded = conn.execute(
        sa.text(f'SELECT EXISTS (SELECT 1 FROM "{DEFAULT_PARTITION}" WHERE date >= :low AND date < :high)'),
        {"low": low, "high": high},
    ).scalar()
    if not stranded:
        conn.execute(
            sa.text(
                f'CREATE TABLE "{name}" PARTITION OF "{AGGREGATES_TABLE}" '
                f"FOR VALUES FROM ('{low}') TO ('{high}')"
            )
        )
        return
    # Rows of this month wait in the default partition: move them into the new
    # table, then attach it (PostgreSQL refuses a partition whose rows are still
    # in the default one).
    conn.execute(sa.text(f'CREATE TABLE "{name}" (LIKE "{AGGREGATES_TABLE}" INCLUDING DEFAULTS)'))
    conn.execute(
        sa.text(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE date >= :low AND date < :high RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved'
        ),
        {"low": low, "high": high},
    )
    conn.execute(
        sa.text(
            f'ALTER TABLE "{AGGREGATES_TABLE}" ATTACH PARTITION "{name}" '
            f"FOR VALUES FROM ('{low}') TO ('{high}')"
        )
    )


def ensure_months(conn: Connection, first: date, last: date) -> list[date]:
    """Create the missing monthly partitions from ``first``'s month to ``last``'s; returns the months made.

    Runs in its own transaction with a short lock timeout; on a lock timeout
    it logs and returns what it made so far (the default partition holds the rest).
    """
    made: list[date] = []
    have = set(months(conn))
    month = month_of(first)
    while month <= month_of(last):
        if month not in have:
            try:
                with conn.begin():
                    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
                    _create_month(conn, month)
                made.append(month)
            except sa.exc.OperationalError:
                log.warning(
                    "Could not create the analytics partition for %s now (a lock was busy); "
                    "its rows go to the default partition until the next run creates it.",
                    month.strftime("%Y-%m"),
                    exc_info=True,
                )
                break
        month = next_month(month)
    return made


def convert(conn: Connection, months_ahead: int, today: date) -> int:
    """Turn the plain ``analytics_daily_aggregates`` into the partitioned layout; returns the rows copied.

    One transaction: the plain table is locked, copied into a new partitioned
    table with a partition for every month it holds (up to ``months_ahead``
    beyond ``today``) and a default one, counted, and swapped in under the same
    name. Any failure leaves the plain table exactly as it was.
    """
    if conn.dialect.name != "postgresql":
        raise RuntimeError("The partitioned layout needs PostgreSQL.")
    if is_partitioned(conn):
        return 0
    new, old = f"{AGGREGATES_TABLE}_partitioned", f"{AGGREGATES_TABLE}_plain"
    fks = _read(
        conn,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(:t) AND contype = 'f' ORDER BY conname",
        t=AGGREGATES_TABLE,
    )
    # Plain indexes (not those of the keys), and triggers, whatever later revisions added.
    indexes = _read(
        conn,
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = to_regclass(:t) AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname",
        t=AGGREGATES_TABLE,
    )
    triggers = _read(
        conn,
        "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
        "WHERE tgrelid = to_regclass(:t) AND NOT tgisinternal ORDER BY tgname",
        t=AGGREGATES_TABLE,
    )
    with conn.begin():
        conn.execute(sa.text(f'LOCK TABLE "{AGGREGATES_TABLE}" IN EXCLUSIVE MODE'))
        span = conn.execute(sa.text(f'SELECT min(date), max(date), count(*) FROM "{AGGREGATES_TABLE}"')).one()
        # Index and constraint names are per schema: the plain table gives its up first.
        conn.execute(sa.text(f'ALTER TABLE "{AGGREGATES_TABLE}" RENAME TO "{old}"'))
        conn.execute(
            sa.text(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{UNIQUE_CONSTRAINT}" TO "{UNIQUE_CONSTRAINT}_plain"')
        )
        conn.execute(sa.text(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{AGGREGATES_TABLE}_pkey" TO "{old}_pkey"'))
        for index, _ in indexes:
            conn.execute(sa.text(f'ALTER INDEX "{index}" RENAME TO "{index}_plain"'))
        conn.execute(
            sa.text(
                f'CREATE TABLE "{new}" (LIKE "{old}" INCLUDING DEFAULTS, '
                f'CONSTRAINT "{AGGREGATES_TABLE}_pkey" PRIMARY KEY (id, date), '
                f'CONSTRAINT "{UNIQUE_CONSTRAINT}" UNIQUE NULLS NOT DISTINCT (tenant_id, agent_id, date, metric_type)'
                f") PARTITION BY RANGE (date)"
            )
        )
        for (definition,) in fks:
            conn.execute(sa.text(f'ALTER TABLE "{new}" ADD {definition}'))
        conn.execute(sa.text(f'ALTER TABLE "{new}" RENAME TO "{AGGREGATES_TABLE}"'))
        for _, definition in indexes:  # "CREATE INDEX name ON public.analytics_daily_aggregates USING ..."
            conn.execute(sa.text(definition))
        for _, definition in triggers:
            conn.execute(sa.text(definition))
        conn.execute(sa.text(f'CREATE TABLE "{DEFAULT_PARTITION}" PARTITION OF "{AGGREGATES_TABLE}" DEFAULT'))
        first = span[0] or today
        last = max(span[1] or today, today)
        month = month_of(first)
        while month <= add_months(month_of(last), months_ahead):
            _create_month(conn, month)
            month = next_month(month)
        conn.execute(sa.text(f'INSERT INTO "{AGGREGATES_TABLE}" SELECT * FROM "{old}"'))
        copied = conn.execute(sa.text(f'SELECT count(*) FROM "{AGGREGATES_TABLE}"')).scalar_one()
        if copied != span[2]:
            raise RuntimeError(f"Copied {copied} rows of {span[2]}: the plain table is kept.")
        conn.execute(sa.text(f'DROP TABLE "{old}"'))
    return copied
