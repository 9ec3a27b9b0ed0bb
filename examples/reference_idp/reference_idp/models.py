"""ORM models of the host tables.

The schema itself is owned by the Alembic history in ``migrations/`` (it holds
what the ORM cannot express portably: the NULL-safe unique key on
``usage_events`` and the trigger that folds a deleted agent's usage into its
tenant). These classes map the same tables for the application code.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

TIERS = ("free", "pro", "enterprise")
METRIC_TYPES = ("api_calls", "token_issuances", "token_failures", "credential_rotations")


def utcnow() -> dt.datetime:
    """Timezone-aware now in UTC; the host keeps every timestamp in UTC."""
    return dt.datetime.now(dt.UTC)


class Tenant(db.Model):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    tier: Mapped[str] = mapped_column(sa.String(16), default="free")
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )

    agents: Mapped[list[Agent]] = relationship(
        back_populates="tenant", passive_deletes=True, order_by="Agent.created_at"
    )


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )

    tenant: Mapped[Tenant] = relationship()


class Agent(db.Model):
    __tablename__ = "agents"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )

    tenant: Mapped[Tenant] = relationship(back_populates="agents")
    credentials: Mapped[list[AgentCredential]] = relationship(
        back_populates="agent", passive_deletes=True, order_by="AgentCredential.created_at"
    )


class AgentCredential(db.Model):
    """One client secret of an agent; at most one per agent has ``revoked_at`` NULL."""

    __tablename__ = "agent_credentials"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    agent_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("agents.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )
    revoked_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    agent: Mapped[Agent] = relationship(back_populates="credentials")


class AgentAccessToken(db.Model):
    __tablename__ = "agent_access_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    agent_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("agents.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True))

    agent: Mapped[Agent] = relationship()


class TenantApiToken(db.Model):
    __tablename__ = "tenant_api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=utcnow, server_default=sa.func.now()
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))

    tenant: Mapped[Tenant] = relationship()


class UsageEvent(db.Model):
    """A daily counter per (tenant, agent or NULL = tenant-wide, UTC date, metric).

    Rows are only ever changed through the upsert in :mod:`reference_idp.usage`,
    so concurrent requests add to one row instead of racing to create it.
    """

    __tablename__ = "usage_events"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agents.id", ondelete="SET NULL")
    )
    date: Mapped[dt.date] = mapped_column(sa.Date)
    metric_type: Mapped[str] = mapped_column(sa.String(64))
    count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
