"""Call patterns: per endpoint (method + route template) of a period, calls, errors, latency, agents, days.

Three grouped statements over ``analytics_call_patterns`` (the request hook's
daily counts, see :mod:`..capture`), all summed by the database: per endpoint,
per endpoint and day, and per endpoint and agent ranked with a window
function so only each endpoint's busiest agents come back. Python only
arranges the rows and derives the rates.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from ..types import CallPatternAgent, CallPatternDay, CallPatternEndpoint, CallPatternsResponse
from .common import as_date, period, period_days

#: Busiest agents listed per endpoint.
TOP_AGENTS = 5


def _sum_where(column: sa.ColumnElement[Any], condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.cast(sa.func.coalesce(sa.func.sum(sa.case((condition, column), else_=0)), 0), sa.BigInteger)


def call_patterns(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    agent_id: uuid.UUID | None = None,
    top_agents: int = TOP_AGENTS,
) -> CallPatternsResponse:
    """The tenant's (or one agent's) calls per endpoint in ``from_``..``to``, busiest endpoint first."""
    cp, agents = tables.call_patterns, tables.agents
    where = [cp.c.tenant_id == tenant_id, cp.c.date.between(from_, to)]
    if agent_id is not None:
        where.append(cp.c.agent_id == agent_id)
    calls = sa.cast(sa.func.sum(cp.c.calls), sa.BigInteger)
    client_errors = _sum_where(cp.c.calls, cp.c.status_class == "4xx")
    server_errors = _sum_where(cp.c.calls, cp.c.status_class == "5xx")

    per_endpoint = conn.execute(
        sa.select(cp.c.method, cp.c.route, calls, client_errors, server_errors, sa.func.sum(cp.c.latency_ms_sum))
        .where(*where)
        .group_by(cp.c.method, cp.c.route)
        .order_by(calls.desc(), cp.c.route, cp.c.method)
    ).all()
    total = sum(int(row[2]) for row in per_endpoint)
    days = period_days(from_, to)
    labels = [d.isoformat() for d in days]
    index = {d: i for i, d in enumerate(days)}

    endpoints: dict[tuple[str, str], CallPatternEndpoint] = {}
    for method, route, n, client, server, latency in per_endpoint:
        n, client, server = int(n), int(client), int(server)
        endpoints[(method, route)] = {
            "method": method,
            "route": route,
            "calls": n,
            "clientErrors": client,
            "serverErrors": server,
            "errorRate": round((client + server) / n, 4) if n else 0.0,
            "share": round(n / total, 4) if total else 0.0,
            "meanLatencyMs": round(float(latency or 0) / n, 1) if n else 0.0,
            "topAgents": [],
            "daily": [{"date": label, "calls": 0, "clientErrors": 0, "serverErrors": 0} for label in labels],
        }
    if not endpoints:
        return _response(tenant_id, from_, to, 0, [])

    daily_rows = conn.execute(
        sa.select(cp.c.method, cp.c.route, cp.c.date, calls, client_errors, server_errors)
        .where(*where)
        .group_by(cp.c.method, cp.c.route, cp.c.date)
    )
    for method, route, day, n, client, server in daily_rows:
        point: CallPatternDay = endpoints[(method, route)]["daily"][index[as_date(day)]]
        point.update(calls=int(n), clientErrors=int(client), serverErrors=int(server))

    per_agent = (
        sa.select(
            cp.c.method,
            cp.c.route,
            cp.c.agent_id,
            calls.label("calls"),
            sa.func.row_number()
            .over(partition_by=(cp.c.method, cp.c.route), order_by=(calls.desc(), cp.c.agent_id))
            .label("rank"),
        )
        .where(*where, cp.c.agent_id.is_not(None))
        .group_by(cp.c.method, cp.c.route, cp.c.agent_id)
        .subquery("per_agent")
    )
    top_rows = conn.execute(
        sa.select(
            per_agent.c.method,
            per_agent.c.route,
            per_agent.c.agent_id,
            sa.func.coalesce(agents.c.name, ""),
            per_agent.c.calls,
        )
        .select_from(
            per_agent.outerjoin(agents, sa.and_(agents.c.id == per_agent.c.agent_id, agents.c.tenant_id == tenant_id))
        )
        .where(per_agent.c.rank <= top_agents)
        .order_by(per_agent.c.method, per_agent.c.route, per_agent.c.rank)
    )
    for method, route, agent, name, n in top_rows:
        entry: CallPatternAgent = {"agentId": str(agent), "agentName": name, "calls": int(n)}
        endpoints[(method, route)]["topAgents"].append(entry)
    return _response(tenant_id, from_, to, total, list(endpoints.values()))


def _response(
    tenant_id: uuid.UUID, from_: date, to: date, total: int, endpoints: list[CallPatternEndpoint]
) -> CallPatternsResponse:
    return {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "totalCalls": total,
        "endpoints": endpoints,
        "dataCompleteThrough": None,
    }
