"""Alembic environment of the plugin's own history (see agentidp_analytics_plugin.schema_migrations)."""

from agentidp_analytics_plugin.schema_migrations import run_env

run_env()
