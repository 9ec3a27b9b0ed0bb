"""Fixtures for the host alone (``IDP_PLUGINS=""``), on SQLite and on PostgreSQL.

Every test that takes ``app`` runs once per database unless it narrows the
``database_url`` parameter. PostgreSQL runs in its own database,
``refidp_test``, created next to ``TEST_DATABASE_URL`` so other suites sharing
the server are never touched; its ``public`` schema is rebuilt per test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
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


class MigratedSchema:
    """The host's schema at head, migrated once per test process and database, then copied.

    Running the host's Alembic history took most of a short test's time. The first
    test on each database runs ``flask db upgrade`` for real on a database of its
    own; later ones get a copy of what it left: the SQLite file, or PostgreSQL's
    ``pg_dump`` of it (``alembic_version``'s row included) replayed into the test's
    emptied schema. The migration tests use ``unmigrated_app`` and migrate for themselves.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sqlite_file: Path | None = None
        self.pg_script: str | None = None

    def restore(self, database_url: str, migrate: Callable[[str], None]) -> None:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            if self.sqlite_file is None:
                migrate(f"sqlite:///{self.workdir / 'template.sqlite'}")
                self.sqlite_file = self.workdir / "template.sqlite"
            shutil.copyfile(self.sqlite_file, url.database)
            return
        if self.pg_script is None:
            template = url.set(database=f"{PG_TEST_DATABASE}_template")
            admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template.database}" WITH (FORCE)'))
                conn.execute(sa.text(f'CREATE DATABASE "{template.database}"'))
            admin.dispose()
            migrate(template.render_as_string(hide_password=False))
            libpq = template.set(drivername="postgresql").render_as_string(hide_password=False)
            pg_dump = shutil.which("pg_dump") or "pg_dump"
            dump = subprocess.run(  # noqa: S603 (our own URL)
                [pg_dump, "--no-owner", "--no-privileges", "--column-inserts", "--dbname", libpq],
                capture_output=True, text=True, check=True,
            ).stdout
            # psql meta-commands (``\restrict`` in current releases) are not SQL.
            lines = dump.splitlines()
            self.pg_script = "\n".join(line for line in lines if not line.startswith("\\"))
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:  # its own connection: the dump empties search_path
                conn.connection.dbapi_connection.execute(self.pg_script)
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def migrated_schema(tmp_path_factory: pytest.TempPathFactory) -> MigratedSchema:
    return MigratedSchema(tmp_path_factory.mktemp("host-schema"))


@pytest.fixture
def app(
    make_host: Callable[..., Flask], database_url: str, migrated_schema: MigratedSchema
) -> Flask:
    """The host with its schema at head (``flask db upgrade``, copied: :class:`MigratedSchema`)."""

    def migrate(url: str) -> None:
        template_app = make_host(DEMO_PASSWORD=PASSWORD, SQLALCHEMY_DATABASE_URI=url)
        with template_app.app_context():
            flask_migrate.upgrade(revision="heads")
            db.session.remove()
            db.engine.dispose()

    migrated_schema.restore(database_url, migrate)
    return make_host(DEMO_PASSWORD=PASSWORD)


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
