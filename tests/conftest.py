"""Fixtures: every app-level test runs on SQLite and on real PostgreSQL.

``ANALYTICS_TEST_BACKENDS`` (default ``sqlite,postgresql``) picks the
databases; ``TEST_DATABASE_URL`` and ``TEST_REDIS_URL`` point at the real
services. Tests that need PostgreSQL itself (advisory locks, concurrent
workers) take the ``pg_app`` fixture and run whenever PostgreSQL is among the
backends. Nothing here mocks the database or the cache.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

# Appended, never prepended: ``tests`` becomes importable while an installed
# agentidp_analytics_plugin (the wheel tox builds) still wins over the source tree.
sys.path.append(str(Path(__file__).resolve().parents[1]))

from host_app import HostData, create_host_app, upgrade_schema
from schema_template import SchemaTemplate, copyable, migrate_with
from testenv import BACKENDS, PG_DATABASE, fresh_database


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "postgresql" in BACKENDS:
        return
    for item in items:
        if "pg_app" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL; this run's backends are " + ",".join(BACKENDS)))


@pytest.fixture(autouse=True)
def _plugin_loggers_enabled() -> None:
    """The plugin's loggers as a host leaves them: on.

    The test host's Alembic env.py (Flask-Migrate's template: ``fileConfig``)
    disables every logger that exists when it runs, and a test that migrates
    earlier in the same worker would otherwise silence the warnings a later
    test asserts. A test whose own app migrates after this still re-enables
    the logger it reads.
    """
    for name, logger in logging.Logger.manager.loggerDict.items():
        if name.startswith("agentidp_analytics_plugin") and isinstance(logger, logging.Logger):
            logger.disabled = False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A dedicated database, recreated once per session."""
    return fresh_database(PG_DATABASE)


def _reset_pg(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def schema_template(tmp_path_factory: pytest.TempPathFactory) -> SchemaTemplate:
    """The migrated schema of this process, copied into each test's database (see schema_template.py)."""
    return SchemaTemplate(
        tmp_path_factory.mktemp("schema-template"), lambda: fresh_database(f"{PG_DATABASE}_template")
    )


#: How the template's database is migrated: the host app, then what an operator runs.
MIGRATE_INTO = migrate_with(create_host_app, upgrade_schema)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


#: Fixtures that build the default app while the test is set up, before anything else can read the database.
_FIRST_APP_FIXTURES = frozenset({"app", "api_app"})


def _reset_by_first_app(backend: str, request: pytest.FixtureRequest) -> bool:
    """Whether make_app's first app empties or resets this test's PostgreSQL database, instead of database_url.

    Then a test whose first app has the template's shape gets the template's
    rows in a schema left as it was (:meth:`SchemaTemplate.reset`) instead of a
    dropped and copied one.
    """
    return backend == "postgresql" and bool(_FIRST_APP_FIXTURES & set(request.fixturenames))


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The test's database: empty, or (see _reset_by_first_app) made ready by the first app built on it."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'host.sqlite'}"
    url = request.getfixturevalue("pg_url")
    if not _reset_by_first_app(backend, request):
        _reset_pg(url)
    return url


@pytest.fixture
def make_app(
    database_url: str, backend: str, schema_template: SchemaTemplate, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Flask]]:
    """Build host apps with the plugin on the test database, schema migrated (the first app's)."""
    built: list[Flask] = []
    reset_here = _reset_by_first_app(backend, request)

    def factory(migrate: bool = True, before_plugins: Callable[[Flask], None] | None = None, **config: Any) -> Flask:
        first = migrate and not built
        copied = first and copyable(before_plugins, config)
        if reset_here and not built:
            # The database still holds what an earlier test left in it.
            if copied:
                schema_template.reset(database_url, MIGRATE_INTO, _reset_pg)
            else:
                _reset_pg(database_url)
        elif copied:
            schema_template.restore(database_url, MIGRATE_INTO)
        app = create_host_app(database_url, before_plugins, **config)
        if first and not copied:
            upgrade_schema(app)
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db = app.extensions["sqlalchemy"]
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def host(app: Flask) -> HostData:
    return HostData(app)


@pytest.fixture
def pg_app(pg_url: str, schema_template: SchemaTemplate) -> Iterator[Flask]:
    """An app on PostgreSQL only, for behaviour SQLite cannot have."""
    schema_template.reset(pg_url, MIGRATE_INTO, _reset_pg)
    app = create_host_app(pg_url)
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].session.remove()
        app.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def pg_host(pg_app: Flask) -> HostData:
    return HostData(pg_app)


# JSON API fixtures (Redis-backed app, seeded scenarios, statement counter).
pytest_plugins = ("api_fixtures",)
