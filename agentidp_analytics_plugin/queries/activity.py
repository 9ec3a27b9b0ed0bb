"""Agent activity: per agent, the days with activity in a period, busiest agent first."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
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

    daily_of: dict[Any, list[DailyActivity]] = {agent_: [] for agent_, _ in shown}
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
    listed: list[AgentActivity] = [
        {"agentId": str(agent_), "agentName": agent_name, "dailyActivity": daily_of[agent_]}
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
