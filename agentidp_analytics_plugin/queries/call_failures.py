"""Failed API calls: each agent's day of 4xx/5xx calls far above its own trailing baseline.

Only a host that records call patterns (``ANALYTICS_CALL_PATTERNS_ENABLED``)
has these counts: the request hook's daily rows in ``analytics_call_patterns``
(:mod:`..capture`), one per agent, endpoint and status class. The service
asks only then; an empty table finds nothing.

One statement: the agent's failed calls per day (every endpoint's 4xx and 5xx
summed by the database), then the same rule as the token failure spikes
(:func:`.baselines.largest_spikes`): a day of the period with at least
``min_errors`` failed calls above ``median + 3 * max(1.4826 * MAD, 1)`` of the
agent's own 28 days before it, zeros included; its largest such day is reported.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables
from .baselines import BASELINE_DAYS, largest_spikes
from .day_numbers import day_number, days_before, num

#: The status classes that count as failed calls.
FAILED = ("4xx", "5xx")


def call_error_spikes(
    conn: Connection, tables: Tables, tenant_id: uuid.UUID, from_: date, to: date, *, min_errors: int
) -> list[tuple[Any, ...]]:
    """Rows (agent id, agent name, day number, failed calls, 4xx, 5xx, median x2, MAD x4), one per agent."""
    cp, agents = tables.call_patterns, tables.agents
    dn = day_number(cp.c.date, conn.dialect.name)

    def calls_of(status: str) -> sa.ColumnElement[Any]:
        return sa.cast(sa.func.sum(sa.case((cp.c.status_class == status, cp.c.calls), else_=0)), sa.BigInteger)

    daily = (
        sa.select(
            cp.c.agent_id,
            dn.label("day"),
            sa.cast(sa.func.sum(cp.c.calls), sa.BigInteger).label("value"),
            calls_of("4xx").label("client_errors"),
            calls_of("5xx").label("server_errors"),
        )
        .where(
            cp.c.tenant_id == tenant_id,
            cp.c.agent_id.is_not(None),
            cp.c.status_class.in_(FAILED),
            cp.c.date.between(days_before(from_, BASELINE_DAYS), to),
        )
        .group_by(cp.c.agent_id, cp.c.date)
        .cte("call_error_days")
    )
    spikes = largest_spikes(daily, num(from_), num(to), min_errors, "call_error")
    s, d = spikes.c, daily.c
    stmt = (
        sa.select(
            s.agent_id,
            sa.func.coalesce(agents.c.name, ""),
            s.day,
            s.value,
            d.client_errors,
            d.server_errors,
            s.median2,
            s.mad4,
        )
        .select_from(
            spikes.join(agents, agents.c.id == s.agent_id).join(
                daily, sa.and_(d.agent_id == s.agent_id, d.day == s.day)
            )
        )
        .where(agents.c.tenant_id == tenant_id)
    )
    return [tuple(row) for row in conn.execute(stmt)]
