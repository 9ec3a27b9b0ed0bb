"""Credential rotations: one set-based query per tenant and period, sorted in the database.

Per agent of the tenant: rotations in the period, the last rotation (any time
up to ``to``), the mean number of days between rotations in the period, and
a ``stale`` flag when nothing rotated in the last N days before ``to``. The
database does the work (GROUP BY with conditional MIN/MAX/SUM, then one
ORDER BY), so a tenant with thousands of agents costs one round trip and no
Python loop over aggregate rows.

The mean gap uses the daily counts: k rotations spread from the first to the
last rotation day have k - 1 gaps, whose mean is (last - first) / (k - 1);
several rotations on one day are gaps of zero days. It is rounded half up to
one decimal by the database, which sorts by that shown value.

Agents with no rotation at all are listed too: they are the stalest.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..params import ROTATION_DEFAULT_DIRECTIONS, ROTATION_DEFAULT_SORT
from ..schema import Tables
from ..types import CredentialRotationsResponse, RotationRow
from .common import CREDENTIAL_ROTATIONS, as_date, period


def _day_diff(later: sa.ColumnElement[Any], earlier: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """Whole days between two DATE expressions, in the database's own arithmetic."""
    if dialect == "sqlite":
        return sa.func.julianday(later) - sa.func.julianday(earlier)
    return sa.cast(later - earlier, sa.Float)  # PostgreSQL: date - date is an integer


def credential_rotations(
    conn: Connection,
    tables: Tables,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    agent_id: uuid.UUID | None = None,
    sort: str = ROTATION_DEFAULT_SORT,
    direction: str | None = None,
    stale_days: int = 30,
) -> CredentialRotationsResponse:
    """The rotation table of one tenant and period, in one statement, rows in the requested order.

    ``sort`` must be one of :data:`..params.ROTATION_SORT_KEYS` (the parameter
    parser refuses others); ``direction`` defaults to the column's own.
    """
    agg, agents = tables.aggregates, tables.agents
    direction = direction or ROTATION_DEFAULT_DIRECTIONS[sort]
    in_period = agg.c.date >= from_
    rotated = agg.c.count > 0
    per_agent = (
        sa.select(
            agg.c.agent_id.label("agent_id"),
            sa.func.coalesce(sa.func.sum(sa.case((in_period, agg.c.count), else_=0)), 0).label("rotations"),
            sa.func.min(sa.case((sa.and_(in_period, rotated), agg.c.date))).label("first_in_period"),
            sa.func.max(sa.case((sa.and_(in_period, rotated), agg.c.date))).label("last_in_period"),
            sa.func.max(sa.case((rotated, agg.c.date))).label("last_rotation"),
        )
        .where(
            agg.c.tenant_id == tenant_id,
            agg.c.metric_type == CREDENTIAL_ROTATIONS,
            agg.c.agent_id.is_not(None),
            agg.c.date <= to,
        )
        .group_by(agg.c.agent_id)
        .subquery("per_agent")
    )
    rotations = sa.func.coalesce(per_agent.c.rotations, 0)
    span = _day_diff(per_agent.c.last_in_period, per_agent.c.first_in_period, conn.dialect.name)
    # Rounded in the database to the one decimal the table shows, so rows that
    # read the same sort by name, and the shown value is the sorted one.
    exact_mean = span / sa.cast(rotations - 1, sa.Float)
    mean_days = sa.case((rotations >= 2, sa.func.round(sa.cast(exact_mean, sa.Numeric), 1)), else_=None)
    cutoff = to - timedelta(days=stale_days)
    stale = sa.case(
        (sa.or_(per_agent.c.last_rotation.is_(None), per_agent.c.last_rotation <= cutoff), 1), else_=0
    )
    columns = {
        "agent": sa.func.lower(agents.c.name),
        "rotations": rotations,
        "last_rotation": per_agent.c.last_rotation,
        "mean_days": mean_days,
        "stale": stale,
    }
    key = columns[sort]
    ordered = key.asc() if direction == "asc" else key.desc()
    # "Never rotated" is the oldest last rotation; a missing mean sorts last either way.
    if sort == "last_rotation":
        ordered = ordered.nulls_first() if direction == "asc" else ordered.nulls_last()
    elif sort == "mean_days":
        ordered = ordered.nulls_last()
    tiebreak = [per_agent.c.last_rotation.asc().nulls_first()] if sort == "stale" else []
    stmt = (
        sa.select(
            agents.c.id,
            sa.func.coalesce(agents.c.name, ""),
            rotations,
            per_agent.c.last_rotation,
            mean_days,
            stale,
        )
        .select_from(agents.outerjoin(per_agent, per_agent.c.agent_id == agents.c.id))
        .where(agents.c.tenant_id == tenant_id)
        .order_by(ordered, *tiebreak, sa.func.lower(agents.c.name).asc(), agents.c.id.asc())
    )
    if agent_id is not None:
        stmt = stmt.where(agents.c.id == agent_id)
    rows: list[RotationRow] = []
    for agent, name, count, last_rotation, mean, is_stale in conn.execute(stmt):
        last = as_date(last_rotation) if last_rotation is not None else None  # SQLite: MAX(date) is text
        rows.append(
            {
                "agentId": str(agent),
                "agentName": name,
                "rotations": int(count),
                "lastRotation": last.isoformat() if last else None,
                "meanDaysBetween": None if mean is None else float(mean),
                "stale": bool(is_stale),
            }
        )
    return {
        "tenantId": str(tenant_id),
        "period": period(from_, to),
        "staleDays": stale_days,
        "agents": rows,
        "dataCompleteThrough": None,
    }
