"""Where an analytics read runs: the read replica when one is configured and healthy, else the primary.

Every read of the API and the tab goes through :meth:`ReadRouter.run`, which
hands the read one connection inside one transaction. On PostgreSQL that
transaction is ``REPEATABLE READ READ ONLY``: every statement of the read
sees the same snapshot, so the numbers of a response and its
``dataCompleteThrough`` (and the generation its cache key holds) always
describe the same state of the aggregates, whether a replica is replaying WAL
or the job is committing a day on the primary meanwhile. A response never
claims a day its numbers do not hold.

With a replica (``ANALYTICS_READ_DATABASE_URL`` or ``ANALYTICS_READ_BIND``):

* unreachable, frozen, or failing a read: the read runs again on the primary
  (``ANALYTICS_READ_FALLBACK``, the default) or the request answers the JSON
  503 (fallback off). After such a failure the replica is left alone for
  ``ANALYTICS_READ_RETRY_SECONDS``, so an outage costs one bounded wait per
  interval, not one per request, and reads return to it by themselves;
* far behind (it has WAL it has not replayed, and its last replayed commit is
  older than ``ANALYTICS_READ_MAX_LAG_SECONDS``): that read goes to the
  primary, or answers 503 without fallback. A replica that is merely quiet
  (everything received is replayed) is never "behind", however old its last
  commit, and neither is a replica cut off from its primary: it answers with
  what it has, and the freshness it reports is its own.

The job, the ledger and every write use the primary (:mod:`.engines`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from . import errors

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds of replay lag of a standby, 0 on a primary or a standby that has replayed all it received.
REPLICA_LAG = sa.text(
    """
    SELECT CASE
      WHEN NOT pg_is_in_recovery() THEN 0
      WHEN pg_last_wal_receive_lsn() IS NULL
        OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
      ELSE coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)
    END
    """
)

#: The replica's problems are logged like outages: once a minute per process, with a count.
replica_log = errors.ThrottledWarning(log, errors.OUTAGE_LOG_INTERVAL)


class ReplicaBehind(Exception):
    """The replica's replay lags more than allowed."""

    def __init__(self, lag: float) -> None:
        super().__init__(f"the read replica is {lag:.0f} s behind its primary")
        self.lag = lag


class ReadRouter:
    """Runs reads on the replica (if any) or the primary, one snapshot per read.

    ``primary`` and ``replica`` are called per read (the engines are built
    lazily, once per process); ``replica`` returns None when there is none.
    ``on_fallback(reason)`` hears of every read the replica could not serve
    ("unreachable", "behind", "resting": skipped after a recent failure).
    """

    def __init__(
        self,
        primary: Callable[[], Engine],
        replica: Callable[[], Engine | None] = lambda: None,
        *,
        fallback: bool = True,
        max_lag: float | None = None,
        retry_seconds: float = 10.0,
        on_fallback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.fallback = fallback
        self.max_lag = max_lag
        self.retry_seconds = retry_seconds
        self.on_fallback = on_fallback
        self.clock = clock
        self._rest_until = float("-inf")
        self._lock = threading.Lock()

    @property
    def replica_resting(self) -> bool:
        """True while reads skip the replica after a failure."""
        return self.clock() < self._rest_until

    def run(self, read: Callable[[Connection], T]) -> T:
        """``read(conn)`` in one read-only snapshot, where the configuration and the replica's health say."""
        replica = self.replica()
        if replica is None:
            return self._read(self.primary(), read)
        if self.replica_resting:
            return self._fall_back("resting", read)
        try:
            return self._read(replica, read, check_lag=self.max_lag is not None)
        except ReplicaBehind as behind:
            replica_log.warn("Analytics reads: %s; reading from the primary.", behind)
            return self._fall_back("behind", read)
        except SQLAlchemyError as exc:
            if not errors.is_outage(exc):
                raise
            with self._lock:
                self._rest_until = self.clock() + self.retry_seconds
            replica_log.warn(
                "Analytics read replica unavailable (%s); %s for %.0f s.",
                errors.describe(exc),
                "reading from the primary" if self.fallback else "answering 503",
                self.retry_seconds,
            )
            return self._fall_back("unreachable", read)

    def _fall_back(self, reason: str, read: Callable[[Connection], T]) -> T:
        if self.on_fallback is not None:
            self.on_fallback(reason)
        if not self.fallback:
            raise errors.service_unavailable()
        return self._read(self.primary(), read)

    def _read(self, engine: Engine, read: Callable[[Connection], T], *, check_lag: bool = False) -> T:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                if check_lag:
                    lag = float(conn.execute(REPLICA_LAG).scalar_one())
                    if self.max_lag is not None and lag > self.max_lag:
                        raise ReplicaBehind(lag)
                return read(conn)
