"""Where the test services are, shared by conftest and fixture modules.

A module of its own because ``from conftest import ...`` resolves to whichever
conftest pytest imported first once there are several (tests/browser has one).
"""

from __future__ import annotations

import os

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_DATABASE = os.environ.get("TEST_PG_DATABASE", "analytics_plugin_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = [b.strip() for b in os.environ.get("ANALYTICS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


def fresh_database(name: str) -> str:
    """Drop and recreate database ``name`` on the test server; return its URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
