"""One roll-up at a time across every process that shares the database.

Under gunicorn each worker has its own scheduler, so at 00:05 several workers
start the job together. A PostgreSQL session-level advisory lock lets exactly
one of them work; the others see it taken and skip. The lock lives on the
connection, so a crashed worker releases it when its connection closes.
SQLite serialises writers itself and is single-host; there the lock is a no-op.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

#: A stable 32-bit key derived from the job id; advisory locks share one
#: key space per database, so the name keeps it from clashing with the host's.
LOCK_KEY = zlib.crc32(b"agentidp_analytics.daily_aggregation")


def try_lock(conn: Connection) -> bool:
    """Take the job lock on ``conn`` without waiting; False if another holds it."""
    if conn.dialect.name != "postgresql":
        return True
    taken = conn.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))).scalar_one()
    conn.commit()  # end the implicit transaction; the session-level lock stays
    return bool(taken)


def unlock(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    conn.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
    conn.commit()
