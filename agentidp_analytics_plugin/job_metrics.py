"""The aggregation job's gauges, taken from the database rather than remembered by a process.

``agentidp_analytics_aggregation_job_last_run`` is the Unix time of the last
successful run. A value kept in process memory would read 0 after every
restart and on every gunicorn worker that lost the job lock to another, which
is exactly when an alert on it must not fire. So the gauge is set from the
database whenever metrics are about to be read (a scrape of ``/metrics``,
prometheus_client's own collection), and after each run. Reads are spaced
``min_interval`` seconds apart, so a scrape costs at most one small query.

A database that cannot answer leaves the last known value in place and is
logged once, not on every scrape; the next successful read is logged too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .metrics import AnalyticsMetrics
from .schema import Tables

log = logging.getLogger(__name__)

#: Seconds between two database reads of the job's state.
REFRESH_INTERVAL = 5.0


def last_successful_run(engine: Engine, tables: Tables) -> float | None:
    """Unix time of the last successful roll-up recorded in the ledger, None before the first."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.max(tables.ledger.c.aggregated_at))).scalar()
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; the plugin writes UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class JobGauges:
    """Keeps the job gauges of one app in line with the database."""

    def __init__(
        self,
        metrics: AnalyticsMetrics,
        read_last_run: Callable[[], float | None],
        min_interval: float = REFRESH_INTERVAL,
    ) -> None:
        self.metrics = metrics
        self._read_last_run = read_last_run
        self.min_interval = min_interval
        self._next_read = 0.0
        self._failing = False
        self._last_run = 0.0
        self._lock = threading.Lock()

    def refresh(self, *, force: bool = False) -> None:
        """Read the last successful run from the database unless it was read moments ago."""
        with self._lock:
            now = time.monotonic()
            if not force and now < self._next_read:
                return
            self._next_read = now + self.min_interval
        try:
            value = self._read_last_run()
        except SQLAlchemyError as exc:
            if not self._failing:
                log.warning(
                    "Cannot read the aggregation job's last run from the database (%s); "
                    "agentidp_analytics_aggregation_job_last_run keeps its last known value.",
                    getattr(exc, "orig", None) or exc,
                )
            self._failing = True
            return
        if self._failing:
            log.info("The aggregation job's last run is readable from the database again.")
            self._failing = False
        if value is not None:
            self._set_last_run(value)

    def record_run(self, seconds: float, failed_days: int, finished_at: float, ledger_last_run: float | None) -> None:
        """What a run in this process observed.

        The last-run time of a run that rolled days up is the ledger's
        (``ledger_last_run``, read by the job on its own connection), as every
        other process and host reads it, so that all of them report one value;
        a run with no day to roll up leaves no ledger row and reports its own end.
        """
        self.metrics.job_duration_ms.set(seconds * 1000)
        if failed_days:
            self.metrics.job_failures.inc(failed_days)
        else:
            self._set_last_run(ledger_last_run if ledger_last_run is not None else finished_at)

    def _set_last_run(self, value: float) -> None:
        # Never backwards: a run that found nothing to do leaves no new ledger
        # row, yet it succeeded later than the ledger's last entry.
        self._last_run = max(self._last_run, value)
        self.metrics.job_last_run.set(self._last_run)
