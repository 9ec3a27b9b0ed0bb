"""Fixtures of the deployment suite: the engines of an install past one machine, started by the suite.

A PostgreSQL primary with a streaming replica (``pg_basebackup -R``), each in
a temporary folder on a loopback port of its own (see ``tests/services.py``);
the shared servers other test runs use are never touched. One pair serves the
whole module; tests that stop the replica or pause its replay put it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from services import PostgresInstance

from host_app import create_host_app, upgrade_schema


@dataclass
class Replicated:
    """A primary and its streaming replica, with an admin engine on each."""

    primary: PostgresInstance
    replica: PostgresInstance

    def __post_init__(self) -> None:
        self.on_primary = sa.create_engine(self.primary.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        self.on_replica = sa.create_engine(self.replica.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def caught_up(self, timeout: float = 30) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        with self.on_primary.connect() as conn:
            target = conn.execute(sa.text("SELECT pg_current_wal_insert_lsn()")).scalar_one()
        deadline = time.monotonic() + timeout
        replayed = sa.text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)")
        while time.monotonic() < deadline:
            with self.on_replica.connect() as conn:
                if conn.execute(replayed, {"t": target}).scalar():
                    return
            time.sleep(0.05)
        raise TimeoutError(f"the replica did not replay up to {target} within {timeout} s")

    def pause_replay(self) -> None:
        with self.on_replica.connect() as conn:
            conn.execute(sa.text("SELECT pg_wal_replay_pause()"))

    def resume_replay(self) -> None:
        with self.on_replica.connect() as conn:
            conn.execute(sa.text("SELECT pg_wal_replay_resume()"))

    def plugin_connections(self, on: sa.Engine) -> int:
        """Connections the plugin's engines hold on that server (they name themselves)."""
        with on.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'agentidp_analytics'")
            ).scalar_one()

    def reset(self) -> None:
        """An empty public schema on the primary, replayed on the replica; replay running."""
        self.resume_replay()
        with self.on_primary.connect() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        self.caught_up()

    def stop(self) -> None:
        self.on_primary.dispose()
        self.on_replica.dispose()
        self.replica.destroy()
        self.primary.destroy()


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    primary = PostgresInstance().init()
    primary.start()
    replica = primary.replica()
    replica.start()
    pair = Replicated(primary, replica)
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture
def make_replicated_app(replicated: Replicated) -> Iterator[Callable[..., Flask]]:
    """Host apps on the primary reading through the replica; the schema created once, then replayed."""
    replicated.reset()
    built: list[Flask] = []

    def factory(**config: Any) -> Flask:
        settings = {"ANALYTICS_READ_DATABASE_URL": replicated.replica.url, **config}
        app = create_host_app(replicated.primary.url, **settings)
        if not built:
            upgrade_schema(app)
            replicated.caught_up()
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            app.extensions["sqlalchemy"].session.remove()
            app.extensions["sqlalchemy"].engine.dispose()
    if not (replicated.replica.data / "postmaster.pid").exists():
        replicated.replica.start()
    replicated.resume_replay()
