"""The roll-ups as they must be, computed in Python from the aggregates, beside what the tables hold.

The invariant of :mod:`agentidp_analytics_plugin.rollups`: after any job run,
agent deletion or migration, every roll-up equals this independent
computation from ``analytics_daily_aggregates``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from agentidp_analytics_plugin.rollups import NEVER
from agentidp_analytics_plugin.schema import ACTIVITY_METRICS, METRIC_GROUPS
from host_app import HostData


def _id(value: Any) -> str | None:
    return str(uuid.UUID(str(value))) if value else None


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def expected(host: HostData) -> dict[str, dict[tuple, int]]:
    rows = host.execute(
        "SELECT tenant_id, agent_id, date, metric_type, count FROM analytics_daily_aggregates"
    ).fetchall()
    daily: dict[tuple, int] = defaultdict(int)
    weekly: dict[tuple, int] = defaultdict(int)
    active_days: dict[tuple, set[date]] = defaultdict(set)
    for tenant, agent, day_, metric, count in rows:
        tenant, agent, day = _id(tenant), _id(agent), _day(day_)
        daily[(tenant, day, metric)] += count
        if agent is None:
            continue
        if metric in ACTIVITY_METRICS:
            weekly[(tenant, day - timedelta(days=day.weekday()), agent)] += count
        for group, metrics in METRIC_GROUPS.items():
            if metric in metrics and count > 0:
                active_days[(tenant, agent, group)].add(day)
    firsts: dict[tuple, int] = defaultdict(int)
    for (tenant, _agent, group), days in active_days.items():
        previous = NEVER
        for day in sorted(days):
            firsts[(tenant, group, day, previous)] += 1
            previous = day
    return {
        "tenant_daily": {k: v for k, v in daily.items() if v},
        "agent_weekly": {k: v for k, v in weekly.items() if v},
        "active_agents": dict(firsts),
    }


def actual(host: HostData) -> dict[str, dict[tuple, int]]:
    daily = host.execute("SELECT tenant_id, date, metric_type, count FROM analytics_tenant_daily").fetchall()
    weekly = host.execute("SELECT tenant_id, week, agent_id, count FROM analytics_agent_weekly").fetchall()
    active = host.execute(
        "SELECT tenant_id, metric_group, date, prev_date, agents FROM analytics_active_agents"
    ).fetchall()
    return {
        "tenant_daily": {(_id(t), _day(d), m): c for t, d, m, c in daily},
        "agent_weekly": {(_id(t), _day(w), _id(a)): c for t, w, a, c in weekly},
        "active_agents": {(_id(t), g, _day(d), _day(p)): n for t, g, d, p, n in active},
    }
