"""The credential-rotation table: one set-based query over the daily aggregates.

Per agent of the tenant: rotations in the period, the last rotation (any time
up to ``to``), the mean number of days between rotations in the period, and
a ``stale`` flag when nothing rotated in the last N days before ``to``. The
database does the work (GROUP BY with conditional MIN/MAX/SUM, then one
ORDER BY), so a tenant with thousands of agents costs one round trip and no
Python loop over aggregate rows.

The mean gap uses the daily counts: k rotations spread from the first to the
last rotation day have k - 1 gaps, whose mean is (last - first) / (k - 1);
several rotations on one day are gaps of zero days.

Agents with no rotation at all are listed too: they are the stalest.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any, TypedDict

import sqlalchemy as sa
from flask import current_app

from .schema import Tables, build_tables

#: Sort keys the table accepts (anything else falls back to the default).
SORT_KEYS = ("agent", "rotations", "last_rotation", "mean_days", "stale")
DEFAULT_SORT = "stale"
#: The direction a column sorts in when first clicked: the useful end first.
DEFAULT_DIRECTIONS = {"agent": "asc", "rotations": "desc", "last_rotation": "asc", "mean_days": "desc", "stale": "desc"}
DEFAULT_DIRECTION = DEFAULT_DIRECTIONS[DEFAULT_SORT]

METRIC = "credential_rotations"


class RotationRow(TypedDict):
    agentId: str
    agentName: str
    rotations: int
    lastRotation: str | None
    meanDaysBetween: float | None
    stale: bool


class InvalidAgentId(ValueError):
    """The agent filter is not a UUID."""


def parse_agent_id(value: str) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidAgentId("agentId must be a UUID.") from None


def _tables() -> Tables:
    state = current_app.extensions.get("agentidp_analytics")
    tables = getattr(state, "tables", None)
    if tables is not None:
        return tables
    cfg = current_app.config
    return build_tables(
        cfg.get("ANALYTICS_TENANTS_TABLE", "tenants"),
        cfg.get("ANALYTICS_AGENTS_TABLE", "agents"),
        cfg.get("ANALYTICS_USAGE_EVENTS_TABLE", "usage_events"),
    )


def _engine() -> sa.Engine:
    return current_app.extensions["sqlalchemy"].engine


def _day_diff(later: sa.ColumnElement[Any], earlier: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """Whole days between two DATE expressions, in the database's own arithmetic."""
    if dialect == "sqlite":
        return sa.func.julianday(later) - sa.func.julianday(earlier)
    return sa.cast(later - earlier, sa.Float)  # PostgreSQL: date - date is an integer


def rotation_statement(
    tables: Tables,
    dialect: str,
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    agent_id: uuid.UUID | None = None,
    sort: str = DEFAULT_SORT,
    direction: str = DEFAULT_DIRECTION,
    stale_days: int = 30,
) -> sa.Select[Any]:
    """Build the query (exposed so tests can inspect it and benchmarks can EXPLAIN it)."""
    agg, agents = tables.aggregates, tables.agents
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
            agg.c.metric_type == METRIC,
            agg.c.agent_id.is_not(None),
            agg.c.date <= to,
        )
        .group_by(agg.c.agent_id)
        .subquery("per_agent")
    )
    rotations = sa.func.coalesce(per_agent.c.rotations, 0)
    span = _day_diff(per_agent.c.last_in_period, per_agent.c.first_in_period, dialect)
    mean_days = sa.case((rotations >= 2, span / sa.cast(rotations - 1, sa.Float)), else_=None)
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
    if sort not in columns:
        sort = DEFAULT_SORT
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
            agents.c.id.label("agent_id"),
            agents.c.name.label("agent_name"),
            rotations.label("rotations"),
            per_agent.c.last_rotation.label("last_rotation"),
            mean_days.label("mean_days"),
            stale.label("stale"),
        )
        .select_from(agents.outerjoin(per_agent, per_agent.c.agent_id == agents.c.id))
        .where(agents.c.tenant_id == tenant_id)
        .order_by(ordered, *tiebreak, sa.func.lower(agents.c.name).asc(), agents.c.id.asc())
    )
    if agent_id is not None:
        stmt = stmt.where(agents.c.id == agent_id)
    return stmt


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite hands MAX(date) back as text


def rotation_table(
    tenant_id: uuid.UUID,
    from_: date,
    to: date,
    *,
    agent_id: uuid.UUID | None = None,
    sort: str = DEFAULT_SORT,
    direction: str = DEFAULT_DIRECTION,
    stale_days: int = 30,
) -> list[RotationRow]:
    """The rows of the rotation table for one tenant and period, sorted in the database."""
    engine = _engine()
    stmt = rotation_statement(
        _tables(),
        engine.dialect.name,
        tenant_id,
        from_,
        to,
        agent_id=agent_id,
        sort=sort,
        direction=direction,
        stale_days=stale_days,
    )
    with engine.connect() as conn:
        result = conn.execute(stmt).all()
    rows: list[RotationRow] = []
    for r in result:
        last = _as_date(r.last_rotation)
        rows.append(
            {
                "agentId": str(r.agent_id),
                "agentName": r.agent_name,
                "rotations": int(r.rotations),
                "lastRotation": last.isoformat() if last else None,
                "meanDaysBetween": None if r.mean_days is None else round(float(r.mean_days), 1),
                "stale": bool(r.stale),
            }
        )
    return rows


def belongs_to(tenant_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Whether the agent is one of the tenant's (asked only when a filtered table comes back empty)."""
    agents = _tables().agents
    stmt = sa.select(sa.literal(1)).where(agents.c.id == agent_id, agents.c.tenant_id == tenant_id)
    with _engine().connect() as conn:
        return conn.execute(stmt).first() is not None


def tenant_agents(tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """(id, name) of every agent of the tenant, by name: the choices of the agent filter."""
    agents = _tables().agents
    stmt = (
        sa.select(agents.c.id, agents.c.name)
        .where(agents.c.tenant_id == tenant_id)
        .order_by(sa.func.lower(agents.c.name), agents.c.id)
    )
    with _engine().connect() as conn:
        return [(str(r.id), r.name) for r in conn.execute(stmt)]


def sort_rows(rows: list[RotationRow], sort: str, direction: str) -> list[RotationRow]:
    """Sort already-built rows exactly like the SQL does (mock data in the gallery and tests)."""
    if sort not in SORT_KEYS:
        sort = DEFAULT_SORT
    desc = direction == "desc"
    ordered = sorted(rows, key=lambda r: (r["agentName"].lower(), r["agentId"]))  # the SQL tie-break
    if sort == "stale":
        ordered = sorted(ordered, key=lambda r: (r["lastRotation"] is not None, r["lastRotation"] or ""))
        return sorted(ordered, key=lambda r: r["stale"], reverse=desc)
    if sort == "agent":
        return sorted(ordered, key=lambda r: r["agentName"].lower(), reverse=desc)
    if sort == "rotations":
        return sorted(ordered, key=lambda r: r["rotations"], reverse=desc)
    field = "lastRotation" if sort == "last_rotation" else "meanDaysBetween"
    present = sorted((r for r in ordered if r[field] is not None), key=lambda r: r[field], reverse=desc)
    missing = [r for r in ordered if r[field] is None]
    return missing + present if (sort == "last_rotation" and not desc) else present + missing
