"""Recording of ``usage_events``: one atomic upsert per event.

A read-modify-write would lose increments under concurrent requests; the
``INSERT ... ON CONFLICT DO UPDATE SET count = count + excluded.count`` lets the
database serialise them on the unique key. The conflict target differs by
dialect because the key does (see the host schema revision).
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .models import METRIC_TYPES, UsageEvent

USAGE_KEY = "uq_usage_events_key"

API_CALLS = "api_calls"
TOKEN_ISSUANCES = "token_issuances"  # noqa: S105 (a metric name)
TOKEN_FAILURES = "token_failures"  # noqa: S105 (a metric name)
CREDENTIAL_ROTATIONS = "credential_rotations"


def utc_today() -> dt.date:
    """Usage days are UTC days, whatever the server's local zone."""
    return dt.datetime.now(dt.UTC).date()


def record_usage(
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID | None,
    metric_type: str,
    count: int = 1,
    day: dt.date | None = None,
) -> None:
    """Add ``count`` to the day's counter in the current transaction (the caller commits).

    ``agent_id`` None records a tenant-wide event.
    """
    if metric_type not in METRIC_TYPES:
        raise ValueError(f"unknown metric_type {metric_type!r}; expected one of {METRIC_TYPES}")
    values = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "date": day or utc_today(),
        "metric_type": metric_type,
        "count": count,
    }
    db.session.execute(upsert_statement(db.session.get_bind().dialect.name).values(values))


def upsert_statement(dialect_name: str) -> sa.Insert:
    """The ``usage_events`` insert that adds to an existing row instead of failing.

    Also used with a list of rows for bulk loads (the demo seed).
    """
    table = UsageEvent.__table__
    if dialect_name == "postgresql":
        stmt = postgresql.insert(table)
        return stmt.on_conflict_do_update(
            constraint=USAGE_KEY, set_={"count": table.c.count + stmt.excluded.count}
        )
    if dialect_name == "sqlite":
        stmt = sqlite.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=[
                table.c.tenant_id,
                sa.func.coalesce(table.c.agent_id, sa.literal_column("''")),
                table.c.date,
                table.c.metric_type,
            ],
            set_={"count": table.c.count + stmt.excluded.count},
        )
    raise NotImplementedError(f"usage recording supports postgresql and sqlite, not {dialect_name}")
