"""Retention (``ANALYTICS_RETENTION_DAYS``, off by default): aggregates and call patterns older than the window go.

On the partitioned layout whole months older than the cut-off are dropped (a
catalogue change, no matter how many rows); on the plain layout, and for the
days of the month the cut-off falls in, rows are deleted in small batches, each
its own transaction, so the job never holds a long lock or a huge undo log.
The roll-ups (:mod:`.rollups`) then forget the same days. The ledger keeps
its rows: those days stay "aggregated", so catch-up never rolls them up again
from the host's events.
"""

from __future__ import annotations

import logging
from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import partitions, rollups
from .partitions import DDL_LOCK_TIMEOUT, next_month, partition_name
from .schema import Tables

log = logging.getLogger(__name__)

BATCH = 10_000


def drop_old_months(conn: Connection, cutoff: date) -> list[date]:
    """Drop the monthly partitions whose every day is before ``cutoff``; returns their months."""
    dropped = []
    for month in partitions.months(conn):
        if next_month(month) > cutoff:
            break
        try:
            with conn.begin():
                conn.execute(sa.text(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'"))
                conn.execute(sa.text(f'DROP TABLE "{partition_name(month)}"'))
        except sa.exc.OperationalError:
            log.warning("Could not drop the analytics partition for %s now (a lock was busy).", f"{month:%Y-%m}")
            break
        dropped.append(month)
    return dropped


def delete_before(conn: Connection, table: sa.Table, cutoff: date, batch: int = BATCH) -> int:
    """Delete ``table``'s rows dated before ``cutoff``, ``batch`` rows per transaction; returns the count."""
    if conn.dialect.name == "sqlite":  # rowid: the cheapest handle on any SQLite table
        handle = sa.literal_column("rowid")
    elif "id" in table.c:  # works across partitions too
        handle = table.c.id
    else:  # a plain PostgreSQL table: the row's physical address
        handle = sa.literal_column("ctid")
    victims = sa.select(handle).select_from(table).where(table.c.date < cutoff).limit(batch)
    statement = sa.delete(table).where(table.c.date < cutoff, handle.in_(victims.scalar_subquery()))
    deleted = 0
    while True:
        with conn.begin():
            count = conn.execute(statement).rowcount
        deleted += count
        if count < batch:
            return deleted


def retained_tables(tables: Tables) -> list[sa.Table]:
    """Every plugin table of dated rows that retention applies to (the ledger is kept on purpose)."""
    return [tables.aggregates, tables.call_patterns]


def apply(conn: Connection, tables: Tables, cutoff: date) -> tuple[list[date], int]:
    """Remove every aggregate dated before ``cutoff``: partitions first, then the remaining rows."""
    dropped = drop_old_months(conn, cutoff) if partitions.is_partitioned(conn) else []
    rows = sum(delete_before(conn, table, cutoff) for table in retained_tables(tables))
    rollups.forget_before(conn, tables, cutoff)  # the roll-ups forget the same days
    if dropped or rows:
        log.info(
            "Analytics retention: dropped %d monthly partition(s), deleted %d row(s) dated before %s.",
            len(dropped), rows, cutoff,
        )
    return dropped, rows
