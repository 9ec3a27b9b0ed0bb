"""Token trends: issuances, failures and unique agents per day or ISO week, dense."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..rollups import week_start
from ..schema import Tables
from ..types import TokenTrendPoint, TokenTrendsResponse
from .common import (
    TOKEN_FAILURES,
    TOKEN_ISSUANCES,
    as_date,
    in_period,
    period,
    period_days,
    sum_of,
    total,
)


def token_trends(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    granularity: str,
    agent_id: uuid.UUID | None = None,
) -> TokenTrendsResponse:
    """One point per day or ISO week of the period, zeros included; of one agent when ``agent_id`` is given.

    The tenant's trend reads the roll-ups (:mod:`..rollups`): the day sums of
    the two token metrics, and for unique agents the first occurrences of each
    bucket (a partial first or last week is clipped to the period: its agents
    are those active within the period). One agent's trend reads that agent's
    aggregate rows.
    """
    bucket_of = week_start if granularity == "week" else (lambda d: d)
    if agent_id is None:
        rows = _tenant_points(conn, tables, tenant_id, from_, to, bucket_of)
    else:
        rows = _agent_points(conn, tables, tenant_id, from_, to, bucket_of, agent_id)
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


def _period_days(from_: date, to: date, bucket_of: Callable[[date], date]) -> sa.CTE:
    """The period's days, each with its bucket and the bucket's first day within the period, as VALUES.

    Portable bucketing that the database groups by, and dense output (a
    bucket without rows sums to zero).
    """
    return (
        sa.values(
            sa.column("day", sa.Date),
            sa.column("bucket", sa.Date),
            sa.column("bucket_from", sa.Date),
            name="period_days",
        )
        .data([(d, bucket_of(d), max(from_, bucket_of(d))) for d in period_days(from_, to)])
        .cte("period_days")
    )


def _tenant_points(
    conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, bucket_of: Callable[[date], date]
) -> list[Any]:
    daily, active = tables.tenant_daily, tables.active_agents
    days = _period_days(from_, to, bucket_of)
    sums = (
        sa.select(
            days.c.bucket, sum_of(daily, TOKEN_ISSUANCES).label("ok"), sum_of(daily, TOKEN_FAILURES).label("failed")
        )
        .select_from(
            days.outerjoin(
                daily,
                sa.and_(
                    daily.c.tenant_id == tenant_id,
                    daily.c.date == days.c.day,
                    daily.c.metric_type.in_((TOKEN_ISSUANCES, TOKEN_FAILURES)),
                ),
            )
        )
        .group_by(days.c.bucket)
        .subquery("sums")
    )
    # An agent counts once per bucket: on its first active day of the bucket
    # (clipped to the period), the one whose previous active day lies before it.
    uniques = (
        sa.select(days.c.bucket, total(active.c.agents).label("agents"))
        .select_from(
            days.join(
                active,
                sa.and_(
                    active.c.tenant_id == tenant_id,
                    active.c.metric_group == "tokens",
                    active.c.date == days.c.day,
                    active.c.prev_date < days.c.bucket_from,
                ),
            )
        )
        .group_by(days.c.bucket)
        .subquery("uniques")
    )
    return conn.execute(
        sa.select(sums.c.bucket, sums.c.ok, sums.c.failed, uniques.c.agents)
        .select_from(sums.outerjoin(uniques, uniques.c.bucket == sums.c.bucket))
        .order_by(sums.c.bucket)
    ).all()


def _agent_points(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    bucket_of: Callable[[date], date],
    agent_id: uuid.UUID,
) -> list[Any]:
    agg = tables.aggregates
    days = _period_days(from_, to, bucket_of)
    joined = days.outerjoin(
        agg,
        sa.and_(
            agg.c.date == days.c.day,
            *in_period(agg, tenant_id, from_, to, (TOKEN_ISSUANCES, TOKEN_FAILURES), agent_id),
        ),
    )
    summed = sa.func.sum(agg.c["count"])
    return conn.execute(
        sa.select(
            days.c.bucket,
            sum_of(agg, TOKEN_ISSUANCES),
            sum_of(agg, TOKEN_FAILURES),
            sa.case((summed > 0, 1), else_=0),
        )
        .select_from(joined)
        .group_by(days.c.bucket)
        .order_by(days.c.bucket)
    ).all()
