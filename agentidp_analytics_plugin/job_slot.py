"""Once per night across every process and host: the scheduled run's slot, on the database's clock.

Every worker of every app host schedules the nightly job, and the advisory
lock keeps two runs from overlapping; but runs that merely follow each other
(one host's scheduler firing a second after another's run ended) would each
redo the night's work. A scheduled run therefore first checks, under the lock,
whether a run already finished in the current slot: the ledger row of
yesterday, which every run writes last (days go oldest first), carries the
time it was written. Manual ``flask analytics aggregate`` runs do not check.

Both the slot and "yesterday" come from the database's clock, not the app
host's: a host whose clock is off still aggregates the right days, and all
hosts agree on which slot they are in.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .schema import Tables


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite hands back CURRENT_TIMESTAMP as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def database_now(engine: Engine) -> datetime:
    """The database server's current time, in UTC."""
    with engine.connect() as conn:
        return _utc(conn.execute(sa.select(sa.func.now())).scalar_one())


def slot_start(now: datetime, hour: int, minute: int) -> datetime:
    """When the slot ``now`` falls in began: the latest daily ``hour:minute`` UTC not after ``now``."""
    start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return start if start <= now else start - timedelta(days=1)


def already_ran(tables: Tables, since: datetime, today: date) -> Callable[[Connection], bool]:
    """A check, for under the lock: did a run finish yesterday's roll-up at or after ``since``?"""

    def check(conn: Connection) -> bool:
        ledger = tables.ledger
        stamp = conn.execute(
            sa.select(ledger.c.aggregated_at).where(ledger.c.date == today - timedelta(days=1))
        ).scalar()
        return stamp is not None and _utc(stamp) >= since

    return check
