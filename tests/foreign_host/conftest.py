"""Fixtures: a fresh Orbit app per test, on SQLite and on PostgreSQL + Redis.

Orbit reads its deployment settings from the environment, so the fixtures set
environment variables (``monkeypatch``) and call ``create_app`` the way Orbit's
own test suite does: once per test, many apps in one process.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from schema_template import SchemaTemplate, migrate_with

from .orbit_idp import create_app
from .orbit_idp.extensions import db
from .orbit_idp.settings import PLUGIN_ENV_KEYS
from .services import (
    BACKENDS,
    PG_DATABASE,
    backend_settings,
    empty_pg_database,
    ensure_pg_database,
    flush_redis,
    pg_url,
)
from .shell import MIGRATIONS_DIR, README_UPGRADE
from .world import PASSWORD, World, build_world

MakeOrbit = Callable[..., Flask]
TEMPLATE_DATABASE = f"{PG_DATABASE}_template"


@pytest.fixture(scope="session")
def _orbit_pg_database() -> None:
    ensure_pg_database()


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def orbit_env(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, str]:
    """The environment an Orbit deployment on this backend exports."""
    if request.param == "postgresql":
        request.getfixturevalue("_orbit_pg_database")
        empty_pg_database()
        flush_redis()
    return backend_settings(request.param, str(tmp_path / "orbit.db"))


@pytest.fixture
def make_orbit(orbit_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeOrbit]:
    """``make_orbit(config=None, **environ)``: Orbit's factory under this test's environment."""
    apps: list[Flask] = []
    for key in ("DATABASE_URL", "REDIS_URL", *PLUGIN_ENV_KEYS):
        monkeypatch.delenv(key, raising=False)
    for key, value in orbit_env.items():
        monkeypatch.setenv(key, value)

    def make(config: dict[str, Any] | None = None, **environ: str) -> Flask:
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        scheduler = getattr(app, "apscheduler", None)
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def run_flask(app: Flask, *args: str) -> str:
    """``flask <args>`` against ``app``; fails the test with the command's output when it fails.

    Alembic's ``env.py`` reconfigures logging from ``alembic.ini``, which would
    drop pytest's log capture; the root logger is put back as it was.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = app.test_cli_runner().invoke(args=list(args))
    finally:
        root.handlers[:], root.level = handlers, level
    assert result.exit_code == 0, f"flask {' '.join(args)} failed:\n{result.output}\n{result.exception!r}"
    return result.output


def upgrade_schema(app: Flask) -> None:
    """The README's commands: the host's revisions, then the plugin's."""
    for command in README_UPGRADE:
        run_flask(app, *command)


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """Orbit's migrations folder in a scratch place, for commands that write revisions."""
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="session")
def orbit_schema(tmp_path_factory: pytest.TempPathFactory) -> SchemaTemplate:
    """Orbit's migrated schema, made once per test process and copied per test (schema_template.py)."""

    def template_url() -> str:
        ensure_pg_database(TEMPLATE_DATABASE)
        empty_pg_database(TEMPLATE_DATABASE)
        return pg_url(TEMPLATE_DATABASE)

    return SchemaTemplate(tmp_path_factory.mktemp("orbit-schema"), template_url)


@pytest.fixture
def orbit(make_orbit: MakeOrbit, orbit_env: dict[str, str], orbit_schema: SchemaTemplate) -> Flask:
    """Orbit as deployed, its schema applied (the README's commands, run once and copied)."""
    database_url = orbit_env["DATABASE_URL"]
    orbit_schema.restore(database_url, migrate_with(lambda url: make_orbit(DATABASE_URL=url), upgrade_schema))
    return make_orbit(DATABASE_URL=database_url)


@pytest.fixture
def world(orbit: Flask) -> World:
    with orbit.app_context():
        return build_world()


@pytest.fixture
def aggregated(orbit: Flask, world: World) -> World:
    """The world, rolled up by the README's backfill command."""
    run_flask(orbit, "analytics", "aggregate", "--from", world.day(-7), "--to", world.day(13))
    return world


def orbit_with_world(
    make_orbit: MakeOrbit, config: dict[str, Any] | None = None, **environ: str
) -> tuple[Flask, World]:
    """An Orbit built with ``config`` and ``environ``, its schema applied and the world written."""
    app = make_orbit(config, **environ)
    upgrade_schema(app)
    with app.app_context():
        return app, build_world()


def sign_in(client: FlaskClient, email: str) -> None:
    response = client.post("/signin", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def console(app: Flask, email: str = "owner@acme.example") -> FlaskClient:
    """A browser session signed in through Orbit's form (acme's owner unless told)."""
    client = app.test_client()
    sign_in(client, email)
    return client


@pytest.fixture
def acme_console(orbit: Flask, world: World) -> FlaskClient:
    """A browser session of acme's owner (growth tier), signed in through Orbit's form."""
    return console(orbit)


@pytest.fixture
def hooli_console(orbit: Flask, world: World) -> FlaskClient:
    """A browser session of hooli's owner (starter tier: no analytics)."""
    return console(orbit, "owner@hooli.example")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless, never Playwright's own download."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def live_orbit(orbit: Flask, aggregated: World) -> Iterator[str]:
    """Orbit with the aggregated world, served on a loopback port for the browser."""
    server = make_server("127.0.0.1", 0, orbit, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
