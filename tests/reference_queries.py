"""The raw-aggregate read queries the roll-ups replaced, kept as the reference the new ones must equal.

These are the usage summary, token trends and agent activity exactly as they
read ``analytics_daily_aggregates`` before the roll-ups existed (every
agent-day of the period summed at read time). The equivalence tests run them
beside the service over the same randomised data and require identical
answers.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agentidp_analytics_plugin.queries.common import (
    API_CALLS,
    CREDENTIAL_ROTATIONS,
    TOKEN_FAILURES,
    TOKEN_ISSUANCES,
    as_date,
    in_period,
    period,
    period_days,
    sum_of,
    total,
)
from agentidp_analytics_plugin.queries.summary import ALL_METRICS, round_half_up
from agentidp_analytics_plugin.schema import Tables


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def is_active_agent(per_agent: sa.Subquery) -> sa.ColumnElement[Any]:
    return sa.case((sa.and_(per_agent.c.agent_id.is_not(None), per_agent.c.total > 0), 1), else_=0)


def usage_summary(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    agent_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The spec's usage summary of ``from_``..``to`` (inclusive), of one agent when ``agent_id`` is given."""
    agg = tables.aggregates
    # Grouping by agent first, then summing the groups, counts active agents
    # with a hash aggregate over a few thousand groups: COUNT(DISTINCT ...)
    # sorts every row of the period, 4x slower on a large tenant.
    per_agent = (
        sa.select(
            agg.c.agent_id,
            sum_of(agg, API_CALLS).label("api_calls"),
            sum_of(agg, TOKEN_ISSUANCES).label("issuances"),
            sum_of(agg, CREDENTIAL_ROTATIONS).label("rotations"),
            sa.func.sum(agg.c["count"]).label("total"),
        )
        .where(*in_period(agg, tenant_id, from_, to, ALL_METRICS, agent_id))
        .group_by(agg.c.agent_id)
        .subquery("per_agent")
    )
    totals = conn.execute(
        sa.select(
            total(per_agent.c.api_calls),
            total(per_agent.c.issuances),
            total(per_agent.c.rotations),
            total(is_active_agent(per_agent)),
        )
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
    days = (to - from_).days + 1
    summary = {
        "totalApiCalls": api_calls,
        "totalTokenIssuances": issuances,
        "totalCredentialRotations": rotations,
        "activeAgentCount": active,
        "averageDailyApiCalls": round_half_up(api_calls, days),
        "peakDailyApiCalls": int(peak.calls) if peak else 0,
        "peakDate": as_date(peak.date).isoformat() if peak else None,
    }
    return {"tenantId": str(tenant_id), "period": period(from_, to), "summary": summary, "dataCompleteThrough": None}


def token_trends(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    granularity: str,
    agent_id: uuid.UUID | None = None,
) -> dict[str, Any]:
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
    points: list[dict[str, Any]] = []
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


def agent_activity(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    agent: tuple[uuid.UUID, str] | None = None,
    top: int | None = None,
) -> dict[str, Any]:
    """The spec's agent activity; ``agent`` is the filtered agent's (id, name), already known to be the tenant's.

    ``top`` keeps only the busiest agents and adds ``agentCount``, how many had activity.
    """
    agg, agents = tables.aggregates, tables.agents
    agent_id = agent[0] if agent else None
    conditions = [
        *in_period(agg, tenant_id, from_, to, (API_CALLS, TOKEN_ISSUANCES, CREDENTIAL_ROTATIONS), agent_id),
        agg.c.agent_id.is_not(None),
        agg.c["count"] > 0,
    ]

    # Rank first: one small GROUP BY agent (a few thousand rows at most)
    # orders the agents, busiest first, then by name. Days are then fetched
    # only for the agents that will be shown, so the tab's top rows of a
    # large tenant do not pay for every agent-day of the period.
    summed = sa.func.sum(agg.c["count"])
    name = sa.func.coalesce(agents.c.name, "")
    ranking = conn.execute(
        sa.select(agg.c.agent_id, name.label("name"))
        .select_from(agg.outerjoin(agents, agents.c.id == agg.c.agent_id))
        .where(*conditions)
        .group_by(agg.c.agent_id, agents.c.name)
        .order_by(summed.desc(), name, agg.c.agent_id)
    ).all()
    shown = ranking if top is None else ranking[:top]

    daily_of: dict[Any, list[dict[str, Any]]] = {agent_: [] for agent_, _ in shown}
    if shown:
        if len(shown) < len(ranking):
            conditions.append(agg.c.agent_id.in_(list(daily_of)))
        rows = conn.execute(
            sa.select(
                agg.c.agent_id,
                agg.c.date,
                sum_of(agg, API_CALLS),
                sum_of(agg, TOKEN_ISSUANCES),
                sum_of(agg, CREDENTIAL_ROTATIONS),
            )
            .where(*conditions)
            .group_by(agg.c.agent_id, agg.c.date)
            .order_by(agg.c.agent_id, agg.c.date)
        )
        # Only arranging here, but for every agent-day shown: no per-row
        # attribute lookups or conversions (sums arrive as integers, each
        # date is formatted once).
        labels: dict[Any, str] = {}
        for row_agent, day, calls, issued, rotated in rows:
            label = labels.get(day)
            if label is None:
                label = labels[day] = as_date(day).isoformat()
            daily_of[row_agent].append(
                {"date": label, "apiCalls": calls, "tokenIssuances": issued, "credentialRotations": rotated}
            )
    listed: list[dict[str, Any]] = [
        {"agentId": str(agent_), "agentName": agent_name, "dailyActivity": daily_of[agent_]}
        for agent_, agent_name in shown
    ]
    if agent is not None and not listed:  # the filtered agent is listed even when idle
        listed.append({"agentId": str(agent[0]), "agentName": agent[1], "dailyActivity": []})
    response: dict[str, Any] = {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "agents": listed,
        "dataCompleteThrough": None,
    }
    if top is not None:
        response["agentCount"] = max(len(ranking), len(listed))
    return response
