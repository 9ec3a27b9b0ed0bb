"""The tenant's agents: one agent's name (is it the tenant's?) and the list behind the agent filter."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..schema import Tables


def agent_name(conn: Connection, tables: Tables, tenant_id: uuid.UUID, agent_id: uuid.UUID) -> str | None:
    """The agent's name ("" when it has none), or None when it is not one of the tenant's agents."""
    agents = tables.agents
    return conn.execute(
        sa.select(sa.func.coalesce(agents.c.name, "")).where(agents.c.id == agent_id, agents.c.tenant_id == tenant_id)
    ).scalar()


def tenant_agents(conn: Connection, tables: Tables, tenant_id: uuid.UUID) -> list[tuple[str, str]]:
    """(id, name) of every agent of the tenant, by name: the choices of the agent filter."""
    agents = tables.agents
    rows = conn.execute(
        sa.select(agents.c.id, sa.func.coalesce(agents.c.name, ""))
        .where(agents.c.tenant_id == tenant_id)
        .order_by(sa.func.lower(agents.c.name), agents.c.id)
    )
    return [(str(agent_id), name) for agent_id, name in rows]
