"""Orbit ID's own schema: organisations, their bots, and what the bots did.

Orbit calls tenants "orgs" and agents "bots". The analytics plugin's host
contract fixes the column names (``id``, ``tier``, ``tenant_id``, ``name``,
``agent_id``, ``date``, ``metric_type``, ``count``) but lets the table names be
configured, so the tables keep Orbit's names.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

TIERS = ("starter", "growth", "scale")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Org(db.Model):
    __tablename__ = "orgs"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    tier: Mapped[str] = mapped_column(sa.String(16), default="starter")
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)


class Bot(db.Model):
    __tablename__ = "bots"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime(timezone=True), default=_now)


class BotUsage(db.Model):
    """One counter row per org, bot, day and kind of event (``agent_id`` NULL: org-wide)."""

    __tablename__ = "bot_usage"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, sa.ForeignKey("bots.id", ondelete="SET NULL"))
    date: Mapped[dt.date] = mapped_column(sa.Date)
    metric_type: Mapped[str] = mapped_column(sa.String(32))
    count: Mapped[int] = mapped_column(sa.Integer, default=1)

    __table_args__ = (sa.Index("ix_bot_usage_org_date", "tenant_id", "date"),)


class Member(db.Model):
    """A person who signs in to the Orbit console on behalf of an org."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))


class ApiKey(db.Model):
    """An org's API key; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, sa.ForeignKey("orgs.id", ondelete="CASCADE"))
    key_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
