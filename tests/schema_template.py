"""The migrated schema, built once per test process and copied into each test's database.

Most tests want a database at head and nothing else; running the host's and the
plugin's Alembic histories for each of them was most of the suite's time (about
0.3 s a test on SQLite and 0.6 to 1.3 s on PostgreSQL, on two loaded cores). The
first such test of a process runs the real commands (``upgrade_schema``: the
host's ``flask db upgrade``, then the plugin's, and the partitioning on the
partitioned layout) on a database of its own; later tests get a copy of the
result: the SQLite file copied, or the PostgreSQL database's ``pg_dump`` (schema
and rows, the version tables' included) replayed into the test's emptied
``public`` schema. A copy holds exactly what the commands left, so what a test
reads or asserts is the same as after migrating.

Only the default shape is copied: an app with host extensions set up before the
plugin (``before_plugins``) or with a setting that changes the plugin's tables
migrates for itself, as do the migration tests, which never ask for a schema.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

#: Settings the plugin's revisions read (host table names, the revision they follow) or the
#: partitioning reads: an app with one of them migrates for itself.
SCHEMA_SETTINGS = frozenset(
    {
        "ANALYTICS_TENANTS_TABLE",
        "ANALYTICS_AGENTS_TABLE",
        "ANALYTICS_USAGE_EVENTS_TABLE",
        "ANALYTICS_MIGRATION_DEPENDS_ON",
        "ANALYTICS_PARTITIONS_AHEAD",
    }
)


def copyable(before_plugins: Callable[[Flask], None] | None, config: Mapping[str, Any]) -> bool:
    """Whether an app built this way gets the same schema as the template's app."""
    return before_plugins is None and not SCHEMA_SETTINGS & config.keys()


class SchemaTemplate:
    """One migrated database per backend, made on first use, copied on every later one."""

    def __init__(self, workdir: Path, pg_template_url: Callable[[], str]) -> None:
        self._workdir = workdir
        self._pg_template_url = pg_template_url
        self._sqlite_file: Path | None = None
        self._pg_script: str | None = None

    def restore(self, database_url: str, migrate_into: Callable[[str], None]) -> None:
        """Give the (empty) database at ``database_url`` the migrated schema and its rows.

        ``migrate_into(url)`` runs the real commands on an empty database, the first time only.
        """
        url = sa.make_url(database_url)
        if url.get_backend_name() == "sqlite":
            shutil.copyfile(self._sqlite_template(migrate_into), url.database)
        else:
            _run_script(database_url, self._pg_dump(migrate_into))

    def _sqlite_template(self, migrate_into: Callable[[str], None]) -> Path:
        if self._sqlite_file is None:
            path = self._workdir / "template.sqlite"
            migrate_into(f"sqlite:///{path}")
            self._sqlite_file = path
        return self._sqlite_file

    def _pg_dump(self, migrate_into: Callable[[str], None]) -> str:
        if self._pg_script is None:
            url = self._pg_template_url()
            migrate_into(url)
            libpq_url = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            dump = subprocess.run(
                ["pg_dump", "--no-owner", "--no-privileges", "--column-inserts", "--dbname", libpq_url],
                capture_output=True, text=True, check=True,
            ).stdout
            # psql meta-commands (``\restrict`` in current releases) are for psql, not for the server.
            self._pg_script = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))
        return self._pg_script



def migrate_with(build: Callable[[str], Flask], migrate: Callable[[Flask], None]) -> Callable[[str], None]:
    """``migrate_into`` for :meth:`SchemaTemplate.restore`: build an app on the URL, migrate it, close it."""

    def migrate_into(database_url: str) -> None:
        app = build(database_url)
        migrate(app)
        with app.app_context():
            db = app.extensions["sqlalchemy"]
            db.session.remove()
            db.engine.dispose()

    return migrate_into


def _run_script(database_url: str, script: str) -> None:
    # On a connection of its own: the dump sets search_path to '' for the rest of its session.
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            # Straight to psycopg without parameters: one simple-protocol round trip for every statement.
            conn.connection.dbapi_connection.execute(script)
    finally:
        engine.dispose()
