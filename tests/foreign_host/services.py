"""Where Orbit's tests find their databases and Redis: the suite's usual environment variables.

``ANALYTICS_TEST_BACKENDS`` picks ``sqlite`` and/or ``postgresql``;
``TEST_DATABASE_URL`` names the PostgreSQL server, on which Orbit uses its own
database ``<TEST_PG_DATABASE>_foreign``; ``TEST_REDIS_URL`` names the Redis
database Orbit may flush.
"""

from __future__ import annotations

import os

import psycopg
import redis
import sqlalchemy as sa

BACKENDS = tuple(b.strip() for b in os.environ.get("ANALYTICS_TEST_BACKENDS", "sqlite,postgresql").split(",") if b)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_DATABASE = os.environ.get("TEST_PG_DATABASE", "analytics") + "_foreign"
PG_URL = (
    sa.make_url(os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    .set(database=PG_DATABASE)
    .render_as_string(hide_password=False)
)


def _libpq(url: str, database: str) -> str:
    return sa.make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def pg_url(database: str = PG_DATABASE) -> str:
    return sa.make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


def ensure_pg_database(database: str = PG_DATABASE) -> None:
    with psycopg.connect(_libpq(PG_URL, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')


def empty_pg_database(database: str = PG_DATABASE) -> None:
    """Drop everything Orbit and the plugin created (tables, triggers, functions, Alembic tables)."""
    with psycopg.connect(_libpq(PG_URL, database), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def flush_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def backend_settings(backend: str, sqlite_path: str) -> dict[str, str]:
    """Orbit's deployment environment for one backend, as its operators would export it."""
    if backend == "sqlite":
        return {"DATABASE_URL": f"sqlite:///{sqlite_path}"}
    return {"DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL}
