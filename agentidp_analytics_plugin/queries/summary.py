"""Usage summary: totals, active agents, daily average and peak day of a period."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from ..types import Summary, UsageSummary
from .common import (
    API_CALLS,
    CREDENTIAL_ROTATIONS,
    TOKEN_FAILURES,
    TOKEN_ISSUANCES,
    as_date,
    in_period,
    period,
    sum_of,
    total,
)

ALL_METRICS = (API_CALLS, TOKEN_ISSUANCES, CREDENTIAL_ROTATIONS, TOKEN_FAILURES)


def round_half_up(total_: int, days: int) -> int:
    """``total / days`` rounded half up, in integers (no float surprises on big totals)."""
    return (2 * total_ + days) // (2 * days)


def usage_summary(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    agent_id: uuid.UUID | None = None,
) -> UsageSummary:
    """The spec's usage summary of ``from_``..``to`` (inclusive), of one agent when ``agent_id`` is given.

    The tenant's summary reads the roll-ups (:mod:`..rollups`): days x metrics
    rows for the sums and the peak, and the first occurrences of the period
    for the exact count of active agents, whatever the number of agents. One
    agent's summary reads that agent's aggregate rows (the index on agent and
    date), which are already the size of the answer.
    """
    if agent_id is None:
        api_calls, issuances, rotations, active, peak = _tenant_figures(conn, tables, tenant_id, from_, to)
    else:
        api_calls, issuances, rotations, active, peak = _agent_figures(conn, tables, tenant_id, from_, to, agent_id)
    days = (to - from_).days + 1
    summary: Summary = {
        "totalApiCalls": api_calls,
        "totalTokenIssuances": issuances,
        "totalCredentialRotations": rotations,
        "activeAgentCount": active,
        "averageDailyApiCalls": round_half_up(api_calls, days),
        "peakDailyApiCalls": int(peak[1]) if peak else 0,
        "peakDate": as_date(peak[0]).isoformat() if peak else None,
    }
    return {"tenantId": str(tenant_id), "period": period(from_, to), "summary": summary, "dataCompleteThrough": None}


Figures = tuple[int, int, int, int, Any]


def _tenant_figures(conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date) -> Figures:
    daily, active = tables.tenant_daily, tables.active_agents
    in_days = [daily.c.tenant_id == tenant_id, daily.c.date.between(from_, to)]
    # An agent is counted once: on its first active day of the period, the
    # one whose previous active day lies before the period.
    firsts = (
        sa.select(total(active.c.agents))
        .where(
            active.c.tenant_id == tenant_id,
            active.c.metric_group == "usage",
            active.c.date.between(from_, to),
            active.c.prev_date < from_,
        )
        .scalar_subquery()
    )
    totals = conn.execute(
        sa.select(
            sum_of(daily, API_CALLS), sum_of(daily, TOKEN_ISSUANCES), sum_of(daily, CREDENTIAL_ROTATIONS), firsts
        ).where(*in_days, daily.c.metric_type.in_((API_CALLS, TOKEN_ISSUANCES, CREDENTIAL_ROTATIONS)))
    ).one()
    peak = conn.execute(
        sa.select(daily.c.date, daily.c["count"])
        .where(*in_days, daily.c.metric_type == API_CALLS, daily.c["count"] > 0)
        .order_by(daily.c["count"].desc(), daily.c.date)
        .limit(1)
    ).first()
    api_calls, issuances, rotations, agents = (int(v or 0) for v in totals)
    return api_calls, issuances, rotations, agents, peak


def _agent_figures(
    conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, agent_id: uuid.UUID
) -> Figures:
    agg = tables.aggregates
    totals = conn.execute(
        sa.select(
            sum_of(agg, API_CALLS),
            sum_of(agg, TOKEN_ISSUANCES),
            sum_of(agg, CREDENTIAL_ROTATIONS),
            sa.case((sa.func.sum(agg.c["count"]) > 0, 1), else_=0),
        ).where(*in_period(agg, tenant_id, from_, to, ALL_METRICS, agent_id))
    ).one()
    daily = sa.func.sum(agg.c["count"])
    peak = conn.execute(
        sa.select(agg.c.date, daily.label("calls"))
        .where(*in_period(agg, tenant_id, from_, to, (API_CALLS,), agent_id))
        .group_by(agg.c.date)
        .having(daily > 0)
        .order_by(daily.desc(), agg.c.date)
        .limit(1)
    ).first()
    api_calls, issuances, rotations, active = (int(v or 0) for v in totals)
    return api_calls, issuances, rotations, active, peak
