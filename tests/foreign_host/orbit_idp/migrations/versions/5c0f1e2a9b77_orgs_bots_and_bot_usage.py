"""orgs, bots and bot usage

Revision ID: 5c0f1e2a9b77
Revises:
Create Date: 2026-11-25 22:29:41.344323

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5c0f1e2a9b77"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "orgs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    op.create_table(
        "bots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bots_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "bot_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("metric_type", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["bots.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["tenant_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bot_usage", schema=None) as batch_op:
        batch_op.create_index("ix_bot_usage_org_date", ["tenant_id", "date"], unique=False)


def downgrade():
    with op.batch_alter_table("bot_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_usage_org_date")

    op.drop_table("bot_usage")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bots_tenant_id"))

    op.drop_table("bots")
    op.drop_table("orgs")
