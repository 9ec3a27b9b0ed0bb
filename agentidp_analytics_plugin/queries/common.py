"""What every query module shares: metric names, period filters, SQL sum helpers, date handling."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from ..types import Period

API_CALLS = "api_calls"
TOKEN_ISSUANCES = "token_issuances"
TOKEN_FAILURES = "token_failures"
CREDENTIAL_ROTATIONS = "credential_rotations"


def as_date(value: date | str) -> date:
    """SQLite hands some DATE results back as text; normalise to ``date``."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def period(from_: date, to: date) -> Period:
    return {"from": from_.isoformat(), "to": to.isoformat()}


def period_days(from_: date, to: date) -> list[date]:
    return [from_ + timedelta(days=i) for i in range((to - from_).days + 1)]


def in_period(
    agg: sa.Table,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    metrics: tuple[str, ...],
    agent_id: uuid.UUID | None = None,
) -> list[sa.ColumnElement[bool]]:
    """The tenant's aggregate rows of ``metrics`` in the period, narrowed to one agent when given.

    With an agent, tenant-wide rows (agent_id NULL) drop out: they belong to no agent.
    """
    conditions = [agg.c.tenant_id == tenant_id, agg.c.date.between(from_, to), agg.c.metric_type.in_(metrics)]
    if agent_id is not None:
        conditions.append(agg.c.agent_id == agent_id)
    return conditions


def sum_of(agg: sa.Table | sa.Alias, metric: str) -> sa.ColumnElement[Any]:
    """SUM(count) of one metric type, 0 when none (conditional aggregation: one scan for all metrics).

    Cast back to BIGINT: PostgreSQL sums BIGINT as NUMERIC, which arrives as
    Decimal and would need converting row by row.
    """
    summed = sa.func.sum(sa.case((agg.c.metric_type == metric, agg.c["count"]), else_=0))
    return sa.cast(sa.func.coalesce(summed, 0), sa.BigInteger)


def total(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(sa.func.coalesce(sa.func.sum(column), 0), sa.BigInteger)

