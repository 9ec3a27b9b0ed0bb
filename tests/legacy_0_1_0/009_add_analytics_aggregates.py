"""The plugin's revision as plugin 0.1.0 placed it: a branch inside the host's history.

Tests put this folder in the host's ``version_locations`` (as 0.1.0's configure
hook did) and run the host's ``upgrade heads``, which leaves a database exactly
as 0.1.0 left it: the revision id in the host's ``alembic_version``, standing
for the host revision named by ``ANALYTICS_MIGRATION_DEPENDS_ON``. The tables
come from the shipped revision itself, whose DDL has not changed since 0.1.0.
"""

from __future__ import annotations

from flask import current_app

from agentidp_analytics_plugin.schema_migrations import script_directory

revision = "009_add_analytics_aggregates"
down_revision = None
branch_labels = ("agentidp_analytics",)
depends_on = current_app.config.get("ANALYTICS_MIGRATION_DEPENDS_ON")


def upgrade() -> None:
    script_directory().get_revision(revision).module.upgrade()


def downgrade() -> None:
    script_directory().get_revision(revision).module.downgrade()
