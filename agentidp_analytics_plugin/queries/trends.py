"""Token trends: issuances, failures and unique agents per day or ISO week, dense."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from ..types import TokenTrendPoint, TokenTrendsResponse
from .common import (
    TOKEN_FAILURES,
    TOKEN_ISSUANCES,
    as_date,
    in_period,
    is_active_agent,
    period,
    period_days,
    sum_of,
    total,
)


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def token_trends(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    granularity: str,
    agent_id: uuid.UUID | None = None,
) -> TokenTrendsResponse:
    """One point per day or ISO week of the period, zeros included; of one agent when ``agent_id`` is given."""
    agg = tables.aggregates
    # The period's days, each with its bucket (itself, or its ISO week's
    # Monday), as a VALUES table: portable bucketing that the database
    # groups by, and dense output (a bucket without rows sums to zero).
    bucket_of = week_start if granularity == "week" else (lambda d: d)
    days = (
        sa.values(sa.column("day", sa.Date), sa.column("bucket", sa.Date), name="period_days")
        .data([(d, bucket_of(d)) for d in period_days(from_, to)])
        .cte("period_days")
    )
    joined = days.outerjoin(
        agg,
        sa.and_(
            agg.c.date == days.c.day,
            *in_period(agg, tenant_id, from_, to, (TOKEN_ISSUANCES, TOKEN_FAILURES), agent_id),
        ),
    )
    # Per bucket and agent first (a hash aggregate), then per bucket: unique
    # agents without a sorting COUNT(DISTINCT ...).
    per_agent = (
        sa.select(
            days.c.bucket,
            agg.c.agent_id,
            sum_of(agg, TOKEN_ISSUANCES).label("issuances"),
            sum_of(agg, TOKEN_FAILURES).label("failures"),
            sa.func.coalesce(sa.func.sum(agg.c["count"]), 0).label("total"),
        )
        .select_from(joined)
        .group_by(days.c.bucket, agg.c.agent_id)
        .subquery("per_agent")
    )
    rows = conn.execute(
        sa.select(
            per_agent.c.bucket,
            total(per_agent.c.issuances),
            total(per_agent.c.failures),
            total(is_active_agent(per_agent)),
        )
        .group_by(per_agent.c.bucket)
        .order_by(per_agent.c.bucket)
    ).all()
    points: list[TokenTrendPoint] = []
    for bucket, ok, failed, agents in rows:
        ok, failed = int(ok or 0), int(failed or 0)
        points.append(
            {
                "date": as_date(bucket).isoformat(),
                "totalIssuances": ok + failed,
                "successfulIssuances": ok,
                "failedIssuances": failed,
                "uniqueAgents": int(agents or 0),
            }
        )
    return {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "granularity": "week" if granularity == "week" else "day",
        "dataPoints": points,
        "dataCompleteThrough": None,
    }
