"""Agent lifecycle: registration, client-secret rotation and deletion.

A client secret is returned exactly once (to be shown to its owner) and stored
only as a hash. Rotation revokes the live secret before issuing the next, so
the database's "one active credential per agent" index always holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from .extensions import db
from .models import Agent, AgentCredential, Tenant, utcnow
from .security import hash_secret, new_client_id, new_client_secret
from .usage import CREDENTIAL_ROTATIONS, record_usage


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly issued client secret: the only moment its plain value exists."""

    agent: Agent
    client_secret: str


def create_agent(tenant: Tenant, name: str) -> IssuedSecret:
    """Register an agent with its first client secret (not counted as a rotation)."""
    agent = Agent(tenant=tenant, name=name, client_id=new_client_id())
    secret = new_client_secret()
    db.session.add(agent)
    db.session.add(AgentCredential(agent=agent, secret_hash=hash_secret(secret)))
    db.session.flush()
    return IssuedSecret(agent=agent, client_secret=secret)


def rotate_credential(agent: Agent) -> IssuedSecret:
    """Revoke the agent's live secret, issue a new one and count the rotation.

    Access tokens already issued stay valid until they expire; only the
    client secret used to obtain new ones changes.
    """
    now = utcnow()
    db.session.execute(
        sa.update(AgentCredential)
        .where(AgentCredential.agent_id == agent.id, AgentCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    secret = new_client_secret()
    db.session.add(AgentCredential(agent_id=agent.id, secret_hash=hash_secret(secret)))
    record_usage(agent.tenant_id, agent.id, CREDENTIAL_ROTATIONS)
    db.session.flush()
    return IssuedSecret(agent=agent, client_secret=secret)


def active_secret_hashes(agent_id: object) -> list[str]:
    """Hashes of the agent's unrevoked secrets (normally exactly one)."""
    return list(
        db.session.scalars(
            sa.select(AgentCredential.secret_hash).where(
                AgentCredential.agent_id == agent_id, AgentCredential.revoked_at.is_(None)
            )
        )
    )


def delete_agent(agent: Agent) -> None:
    """Delete an agent; its usage history folds into the tenant-wide bucket.

    The folding is done by the database trigger on ``agents`` so that tenant
    totals are preserved however the row is deleted; this function only
    issues the delete.
    """
    db.session.execute(sa.delete(Agent).where(Agent.id == agent.id))
    db.session.expunge(agent)
