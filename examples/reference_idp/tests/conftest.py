"""Fixtures for the host alone (``IDP_PLUGINS=""``), on SQLite and on PostgreSQL.

Every test that takes ``app`` runs once per database unless it narrows the
``database_url`` parameter. PostgreSQL runs in its own database,
``refidp_test``, created next to ``TEST_DATABASE_URL`` so other suites sharing
the server are never touched; its ``public`` schema is rebuilt per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from idp_helpers import PASSWORD, login, make_tenant
from sqlalchemy.engine import make_url

from reference_idp import create_app
from reference_idp.extensions import db

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Its own database beside the plugin suite's; TEST_PG_DATABASE, set when several runs
# share one server, names both.
_SHARED_NAME = os.environ.get("TEST_PG_DATABASE")
PG_TEST_DATABASE = f"{_SHARED_NAME}_refidp" if _SHARED_NAME else "refidp_test"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a dedicated PostgreSQL test database, created once per session."""
    base = make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_PG_URL))
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    # No skip when PostgreSQL is unreachable: its tests must run, so say so loudly.
    try:
        with engine.connect() as conn:
            exists = conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": PG_TEST_DATABASE},
            )
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{PG_TEST_DATABASE}"'))
    finally:
        engine.dispose()
    return base.set(database=PG_TEST_DATABASE).render_as_string(hide_password=False)


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        # A connection left by a failed test would make DROP SCHEMA wait forever.
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reference_idp.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def make_host(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Flask]]:
    """Build the host on the test database: plugins from ``IDP_PLUGINS``, no stray environment."""
    built: list[Flask] = []

    def factory(plugins: str = "", **config: Any) -> Flask:
        monkeypatch.setenv("IDP_PLUGINS", plugins)
        for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
            monkeypatch.delenv(name, raising=False)
        settings = {"TESTING": True, "SECRET_KEY": "test-secret"}
        app = create_app({**settings, "SQLALCHEMY_DATABASE_URI": database_url, **config})
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def unmigrated_app(make_host: Callable[..., Flask]) -> Flask:
    """The host with an empty database, for migration tests."""
    return make_host(DEMO_PASSWORD=PASSWORD)


@pytest.fixture
def app(unmigrated_app: Flask) -> Flask:
    """The host with its schema at head."""
    with unmigrated_app.app_context():
        flask_migrate.upgrade(revision="heads")
    return unmigrated_app


@pytest.fixture
def dialect(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def logged_in(app: Flask) -> tuple[FlaskClient, uuid.UUID]:
    """A client signed in as acme's admin; returns (client, tenant id)."""
    with app.app_context():
        tenant_id = make_tenant("acme", with_user=True).id
    client = app.test_client()
    assert login(client, "admin@acme.test").status_code == 302
    return client, tenant_id
