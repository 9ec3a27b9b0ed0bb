"""Host schema: tenants, users, agents, credentials, tokens and usage_events.

Revision ID: 3f9a1c7e2b54
Revises:
Create Date: 2026-11-25 18:00:00

Plugins that add tables keep them in histories of their own (the analytics
plugin: ``flask analytics db upgrade``, run after ``flask db upgrade``), so this
history stays one line.

Written by hand for PostgreSQL and SQLite alike:

* ``usage_events`` has one row per (tenant, agent, date, metric) where a NULL
  agent (tenant-wide) counts as one value. PostgreSQL gets
  ``UNIQUE NULLS NOT DISTINCT``; SQLite, which has no such clause, gets a
  unique expression index over ``coalesce(agent_id, '')``.
* Deleting an agent must neither fail nor change tenant totals. With the key
  above, ``ON DELETE SET NULL`` would collide with an existing tenant-wide row,
  so a BEFORE DELETE trigger on ``agents`` first folds the agent's counts into
  the tenant-wide bucket and removes the agent's rows, for every way of
  deleting (ORM, raw SQL, tenant cascade).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3f9a1c7e2b54"
down_revision = None
branch_labels = ("reference_idp",)
depends_on = None

USAGE_KEY = "uq_usage_events_key"

PG_FOLD_FUNCTION = """
CREATE FUNCTION fold_agent_usage_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Skipped while the tenant itself is being deleted: its rows go with it.
    IF EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id) THEN
        INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
        SELECT tenant_id, NULL::uuid, date, metric_type, SUM(count)
        FROM usage_events
        WHERE agent_id = OLD.id
        GROUP BY tenant_id, date, metric_type
        ON CONFLICT ON CONSTRAINT uq_usage_events_key
        DO UPDATE SET count = usage_events.count + EXCLUDED.count;
    END IF;
    DELETE FROM usage_events WHERE agent_id = OLD.id;
    RETURN OLD;
END;
$$
"""

PG_FOLD_TRIGGER = """
CREATE TRIGGER trg_agents_fold_usage_events
BEFORE DELETE ON agents
FOR EACH ROW EXECUTE FUNCTION fold_agent_usage_events()
"""

# SQLite: the WHERE clause in the SELECT also resolves the parser ambiguity
# between "INSERT ... SELECT ... ON CONFLICT" and a join's ON.
SQLITE_FOLD_TRIGGER = """
CREATE TRIGGER trg_agents_fold_usage_events
BEFORE DELETE ON agents
FOR EACH ROW
BEGIN
    INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
    SELECT tenant_id, NULL, date, metric_type, SUM(count)
    FROM usage_events
    WHERE agent_id = OLD.id
      AND EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
    GROUP BY tenant_id, date, metric_type
    ON CONFLICT (tenant_id, coalesce(agent_id, ''), date, metric_type)
    DO UPDATE SET count = usage_events.count + excluded.count;
    DELETE FROM usage_events WHERE agent_id = OLD.id;
END
"""


def _uuid_default() -> sa.TextClause:
    """Server-side id default, so SQL-only inserts (trigger, plugin roll-ups) get ids.

    On SQLite ``sa.Uuid`` is stored as 32 lowercase hex digits, the shape of
    ``lower(hex(randomblob(16)))``.
    """
    if op.get_bind().dialect.name == "postgresql":
        return sa.text("gen_random_uuid()")
    return sa.text("(lower(hex(randomblob(16))))")


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), primary_key=True, server_default=_uuid_default())


def _created_at() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name

    op.create_table(
        "tenants",
        _id(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False, server_default="free"),
        _created_at(),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
        sa.CheckConstraint("tier IN ('free', 'pro', 'enterprise')", name="ck_tenants_tier"),
    )

    op.create_table(
        "users",
        _id(),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_users_tenant_id"),
            nullable=False,
        ),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        _created_at(),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])

    op.create_table(
        "agents",
        _id(),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_agents_tenant_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        _created_at(),
        sa.UniqueConstraint("client_id", name="uq_agents_client_id"),
    )
    op.create_index("ix_agents_tenant_id", "agents", ["tenant_id"])

    op.create_table(
        "agent_credentials",
        _id(),
        sa.Column(
            "agent_id",
            sa.Uuid(),
            sa.ForeignKey("agents.id", ondelete="CASCADE", name="fk_agent_credentials_agent_id"),
            nullable=False,
        ),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_agent_credentials_agent_id", "agent_credentials", ["agent_id"])
    # At most one live secret per agent: rotation must revoke before it issues.
    op.create_index(
        "uq_agent_credentials_active",
        "agent_credentials",
        ["agent_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
        sqlite_where=sa.text("revoked_at IS NULL"),
    )

    op.create_table(
        "agent_access_tokens",
        _id(),
        sa.Column(
            "agent_id",
            sa.Uuid(),
            sa.ForeignKey("agents.id", ondelete="CASCADE", name="fk_agent_access_tokens_agent_id"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token_hash", name="uq_agent_access_tokens_token_hash"),
    )
    op.create_index("ix_agent_access_tokens_agent_id", "agent_access_tokens", ["agent_id"])

    op.create_table(
        "tenant_api_tokens",
        _id(),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_tenant_api_tokens_tenant_id"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        _created_at(),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_tenant_api_tokens_token_hash"),
    )
    op.create_index("ix_tenant_api_tokens_tenant_id", "tenant_api_tokens", ["tenant_id"])

    usage_columns = [
        _id(),
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE", name="fk_usage_events_tenant_id"),
            nullable=False,
        ),
        sa.Column(
            "agent_id",
            sa.Uuid(),
            sa.ForeignKey("agents.id", ondelete="SET NULL", name="fk_usage_events_agent_id"),
            nullable=True,
        ),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("metric_type", sa.String(64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default="0"),
    ]
    if dialect == "postgresql":
        usage_columns.append(
            sa.UniqueConstraint(
                "tenant_id",
                "agent_id",
                "date",
                "metric_type",
                name=USAGE_KEY,
                postgresql_nulls_not_distinct=True,
            )
        )
    op.create_table("usage_events", *usage_columns)
    if dialect != "postgresql":
        op.create_index(
            USAGE_KEY,
            "usage_events",
            ["tenant_id", sa.text("coalesce(agent_id, '')"), "date", "metric_type"],
            unique=True,
        )
    op.create_index("ix_usage_events_tenant_date", "usage_events", ["tenant_id", "date"])
    op.create_index("ix_usage_events_date", "usage_events", ["date"])

    if dialect == "postgresql":
        op.execute(PG_FOLD_FUNCTION)
        op.execute(PG_FOLD_TRIGGER)
    else:
        op.execute(SQLITE_FOLD_TRIGGER)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute(
        "DROP TRIGGER IF EXISTS trg_agents_fold_usage_events"
        + (" ON agents" if dialect == "postgresql" else "")
    )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS fold_agent_usage_events()")
    op.drop_table("usage_events")
    op.drop_table("tenant_api_tokens")
    op.drop_table("agent_access_tokens")
    op.drop_table("agent_credentials")
    op.drop_table("agents")
    op.drop_table("users")
    op.drop_table("tenants")
