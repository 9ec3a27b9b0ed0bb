"""Where the host's Alembic history lives and which revision creates its tables."""

from __future__ import annotations

from importlib.resources import files

# The revision creating tenants, agents and usage_events (the head of the host's history).
HOST_SCHEMA_REVISION = "3f9a1c7e2b54"


def migrations_directory() -> str:
    """The packaged ``migrations`` folder, found the same way in a wheel and a checkout."""
    return str(files("reference_idp") / "migrations")
