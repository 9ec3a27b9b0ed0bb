"""The usage summary's comparison with the preceding period of equal length.

An addition to the spec's answer (its fields stay exactly as they are): the
same figures for the ``N`` days before ``from`` when the period holds ``N``
days, plus token failures (not among the spec's summary fields, but the one
figure whose rise is bad news), and each figure's change in percent.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from .common import TOKEN_FAILURES, in_period, period, total
from .summary import usage_summary

#: The figures compared, in the cards' order.
COMPARED = (
    "totalApiCalls",
    "totalTokenIssuances",
    "totalCredentialRotations",
    "activeAgentCount",
    "averageDailyApiCalls",
    "peakDailyApiCalls",
    "totalTokenFailures",
)


def previous_period(from_: date, to: date) -> tuple[date, date] | None:
    """The ``N`` days just before ``from_`` for a period of ``N`` days; None before the calendar's start."""
    days = (to - from_).days + 1
    try:
        return from_ - timedelta(days=days), from_ - timedelta(days=1)
    except OverflowError:
        return None


def change_percent(current: int, previous: int) -> float | None:
    """(current - previous) / previous in percent, to 0.1; 0 when both are 0, None from 0 to more (no base)."""
    if previous == 0:
        return 0.0 if current == 0 else None
    return round((current - previous) * 100 / previous, 1)


def token_failures(
    conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, agent_id: uuid.UUID | None
) -> int:
    """Token failures of the period: the tenant's from its day sums (:mod:`..rollups`), one agent's from its rows."""
    if agent_id is None:
        daily = tables.tenant_daily
        query = sa.select(total(daily.c["count"])).where(
            daily.c.tenant_id == tenant_id, daily.c.date.between(from_, to), daily.c.metric_type == TOKEN_FAILURES
        )
    else:
        agg = tables.aggregates
        query = sa.select(total(agg.c["count"])).where(
            *in_period(agg, tenant_id, from_, to, (TOKEN_FAILURES,), agent_id)
        )
    return int(conn.execute(query).scalar_one() or 0)


def comparison(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    current: dict[str, Any],
    agent_id: uuid.UUID | None = None,
) -> dict[str, Any] | None:
    """The ``comparison`` field of a usage summary whose ``summary`` is ``current``; None without a previous period."""
    before = previous_period(from_, to)
    if before is None:
        return None
    prev_from, prev_to = before
    previous = dict(usage_summary(conn, tables, tenant_id, prev_from, prev_to, agent_id)["summary"])
    previous["totalTokenFailures"] = token_failures(conn, tables, tenant_id, prev_from, prev_to, agent_id)
    now = {**current, "totalTokenFailures": token_failures(conn, tables, tenant_id, from_, to, agent_id)}
    return {
        "period": period(prev_from, prev_to),
        "summary": previous,
        "totalTokenFailures": now["totalTokenFailures"],
        "changePercent": {k: change_percent(now[k], previous[k]) for k in COMPARED},
    }
