"""Agent activity: per agent, the days with activity in a period, busiest agent first."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from ..rollups import week_start
from ..schema import ACTIVITY_METRICS, Tables
from ..types import AgentActivity, AgentActivityResponse, DailyActivity
from .common import API_CALLS, CREDENTIAL_ROTATIONS, TOKEN_ISSUANCES, as_date, in_period, period, sum_of


def agent_activity(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    agent: tuple[uuid.UUID, str] | None = None,
    top: int | None = None,
) -> AgentActivityResponse:
    """The spec's agent activity; ``agent`` is the filtered agent's (id, name), already known to be the tenant's.

    ``top`` keeps only the busiest agents and adds ``agentCount``, how many had activity.
    """
    agg = tables.aggregates
    agent_id = agent[0] if agent else None
    conditions = [
        *in_period(agg, tenant_id, from_, to, ACTIVITY_METRICS, agent_id),
        agg.c.agent_id.is_not(None),
        agg.c["count"] > 0,
    ]

    # Rank first, then fetch days only for the agents that will be shown, so
    # the tab's top rows of a large tenant do not pay for every agent-day.
    ranking = conn.execute(_ranking(tables, tenant_id, from_, to, agent_id)).all()
    shown = ranking if top is None else ranking[:top]

    daily_of: dict[Any, list[DailyActivity]] = {}
    if shown:
        if len(shown) < len(ranking):
            conditions.append(agg.c.agent_id.in_([agent_ for agent_, _ in shown]))
        per_day = (
            sa.select(
                agg.c.agent_id,
                agg.c.date,
                sum_of(agg, API_CALLS).label("calls"),
                sum_of(agg, TOKEN_ISSUANCES).label("issued"),
                sum_of(agg, CREDENTIAL_ROTATIONS).label("rotated"),
            )
            .where(*conditions)
            .group_by(agg.c.agent_id, agg.c.date)
        )
        if conn.dialect.name == "postgresql":
            daily_of = _days_as_json(conn, per_day.subquery("per_day"))
        else:
            daily_of = _days_in_python(conn, per_day.order_by(agg.c.agent_id, agg.c.date))
    listed: list[AgentActivity] = [
        {"agentId": str(agent_), "agentName": agent_name, "dailyActivity": daily_of.get(agent_, [])}
        for agent_, agent_name in shown
    ]
    if agent is not None and not listed:  # the filtered agent is listed even when idle
        listed.append({"agentId": str(agent[0]), "agentName": agent[1], "dailyActivity": []})
    response: AgentActivityResponse = {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "agents": listed,
        "dataCompleteThrough": None,
    }
    if top is not None:
        response["agentCount"] = max(len(ranking), len(listed))
    return response


def _ranking(tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, agent_id: uuid.UUID | None) -> sa.Select[Any]:
    """(agent_id, name) of the agents with activity, busiest first, then by name.

    The tenant's ranking sums the weekly roll-up (:mod:`..rollups`) over the
    ISO weeks wholly inside the period, and the aggregate rows of the partial
    weeks at its ends: about agents x (weeks + 12) rows instead of every
    agent-day. One agent's ranking reads that agent's rows.
    """
    agg, agents, weekly = tables.aggregates, tables.agents, tables.agent_weekly
    edge_rows = [
        agg.c.tenant_id == tenant_id,
        agg.c.agent_id.is_not(None),
        agg.c.metric_type.in_(ACTIVITY_METRICS),
        agg.c["count"] > 0,
    ]
    try:
        first_week = week_start(from_ + timedelta(days=6))  # the first Monday on or after from_
        last_week = week_start(to + timedelta(days=1)) - timedelta(days=7)  # the last week ending by to
    except OverflowError:  # a period at the calendar's first or last days: no whole week to read
        first_week, last_week = date.max, date.min
    if agent_id is not None:
        parts = [
            sa.select(agg.c.agent_id, agg.c["count"]).where(
                *edge_rows, agg.c.agent_id == agent_id, agg.c.date.between(from_, to)
            )
        ]
    elif first_week > last_week:  # no whole week inside the period
        parts = [sa.select(agg.c.agent_id, agg.c["count"]).where(*edge_rows, agg.c.date.between(from_, to))]
    else:
        parts = [
            sa.select(weekly.c.agent_id, weekly.c["count"]).where(
                weekly.c.tenant_id == tenant_id, weekly.c.week.between(first_week, last_week)
            ),
            sa.select(agg.c.agent_id, agg.c["count"]).where(
                *edge_rows,
                sa.or_(  # the partial weeks at the ends (no date arithmetic past the calendar's first day)
                    sa.and_(agg.c.date >= from_, agg.c.date < first_week),
                    sa.and_(agg.c.date > last_week + timedelta(days=6), agg.c.date <= to),
                ),
            ),
        ]
    rows = sa.union_all(*parts).subquery("rows")
    per_agent = (
        sa.select(rows.c.agent_id, sa.func.sum(rows.c["count"]).label("total"))
        .group_by(rows.c.agent_id)
        .having(sa.func.sum(rows.c["count"]) > 0)
        .subquery("per_agent")
    )
    name = sa.func.coalesce(agents.c.name, "")
    return (
        sa.select(per_agent.c.agent_id, name.label("name"))
        .select_from(per_agent.outerjoin(agents, agents.c.id == per_agent.c.agent_id))
        .order_by(per_agent.c.total.desc(), name, per_agent.c.agent_id)
    )


def _days_as_json(conn: Connection, per_day: sa.Subquery) -> dict[Any, list[DailyActivity]]:
    """Each agent's days as one JSON array built by PostgreSQL (json_agg), parsed in one go by the driver."""
    day = sa.func.json_build_object(
        "date",
        sa.func.to_char(per_day.c.date, "YYYY-MM-DD"),
        "apiCalls",
        per_day.c.calls,
        "tokenIssuances",
        per_day.c.issued,
        "credentialRotations",
        per_day.c.rotated,
    )
    days = sa.func.json_agg(postgresql.aggregate_order_by(day, per_day.c.date))
    rows = conn.execute(sa.select(per_day.c.agent_id, days).group_by(per_day.c.agent_id))
    return {agent_: days_ for agent_, days_ in rows}


def _days_in_python(conn: Connection, per_day: sa.Select[Any]) -> dict[Any, list[DailyActivity]]:
    """Each agent's days, arranged from the rows (no per-row attribute lookups; each date formatted once)."""
    daily_of: dict[Any, list[DailyActivity]] = {}
    labels: dict[Any, str] = {}
    for row_agent, day, calls, issued, rotated in conn.execute(per_day):
        label = labels.get(day)
        if label is None:
            label = labels[day] = as_date(day).isoformat()
        days = daily_of.get(row_agent)
        if days is None:
            days = daily_of[row_agent] = []
        days.append({"date": label, "apiCalls": calls, "tokenIssuances": issued, "credentialRotations": rotated})
    return daily_of
