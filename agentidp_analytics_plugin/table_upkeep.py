"""The job's upkeep of the aggregates table, under its lock: monthly partitions ahead, retention after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from . import job_state, partitions, retention
from .schema import Tables


@dataclass(frozen=True)
class TableUpkeep:
    """``aggregation.Maintenance`` for one app: its tables and its settings."""

    tables: Tables
    months_ahead: int
    retention_days: int | None

    def before(self, conn: Connection, days: list[date], today: date) -> None:
        """On the partitioned layout, the months about to be written and ``months_ahead`` beyond today."""
        if partitions.is_partitioned(conn):
            first = min([*days, today])
            partitions.ensure_months(conn, first, partitions.add_months(partitions.month_of(today), self.months_ahead))

    def after(self, conn: Connection, today: date) -> None:
        if self.retention_days is not None:
            dropped, rows = retention.apply(conn, self.tables, today - timedelta(days=self.retention_days))
            if dropped or rows:  # answers cached over the removed days are stale now (see caching)
                job_state.record(conn, self.tables, first_event_day=None, bump=True)
                conn.commit()
