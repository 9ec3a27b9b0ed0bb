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

A PostgreSQL database keeps its schema from one test to the next when the test
left it exactly as copied (:meth:`SchemaTemplate.reset`): then only the rows
are put back, the template's, in the same tables.

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
        self._pg_rows: str | None = None
        #: Per database: the catalog fingerprint of a fresh copy, and its tables.
        self._pg_copies: dict[str, tuple[str, list[str]]] = {}

    def restore(self, database_url: str, migrate_into: Callable[[str], None]) -> None:
        """Give the (empty) database at ``database_url`` the migrated schema and its rows.

        ``migrate_into(url)`` runs the real commands on an empty database, the first time only.
        """
        url = sa.make_url(database_url)
        if url.get_backend_name() == "sqlite":
            shutil.copyfile(self._sqlite_template(migrate_into), url.database)
        else:
            _run_script(database_url, self._pg_dump(migrate_into))

    def reset(self, database_url: str, migrate_into: Callable[[str], None], empty: Callable[[str], None]) -> None:
        """Give the database at ``database_url`` the migrated schema and its rows, whatever a test left in it.

        On PostgreSQL, when the schema is still exactly what the last copy into
        this database made (the catalog fingerprint below: tables, columns,
        defaults, indexes, constraints, triggers, functions, types, rules,
        policies, privileges and settings), only the rows are replaced: every
        table emptied and the template's rows and sequence positions written
        back, about a fifth of dropping and copying the schema again. A test
        that changed the schema (migrations, partitioning, DDL of its own) gets
        ``empty(url)`` and a fresh copy.
        """
        url = sa.make_url(database_url)
        if url.get_backend_name() == "sqlite" or not self._pg_reset_rows(database_url):
            empty(database_url)
            self.restore(database_url, migrate_into)
            if url.get_backend_name() != "sqlite":
                self._pg_copies[database_url] = _pg_catalog(database_url)

    def _pg_reset_rows(self, database_url: str) -> bool:
        copy = self._pg_copies.get(database_url)
        if copy is None or self._pg_rows is None:
            return False
        fingerprint, tables = copy
        engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                if raw.execute(CATALOG_FINGERPRINT).fetchone()[0] != fingerprint:
                    return False
                # Replica mode: no foreign-key checks or triggers while the rows are replaced.
                deletes = "".join(f"DELETE FROM {table};\n" for table in tables)
                raw.execute(f"BEGIN;\nSET LOCAL session_replication_role = replica;\n{deletes}{self._pg_rows}\nCOMMIT;")
        finally:
            engine.dispose()
        return True

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
            rows = subprocess.run(
                ["pg_dump", "--data-only", "--column-inserts", "--dbname", libpq_url],
                capture_output=True, text=True, check=True,
            ).stdout
            self._pg_script = _server_statements(dump)
            self._pg_rows = _server_statements(rows)
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


def _server_statements(dump: str) -> str:
    # psql meta-commands (``\restrict`` in current releases) are for psql, not for the server.
    return "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))


#: One digest of everything in the ``public`` schema that a test could change besides rows.
CATALOG_FINGERPRINT = """
WITH parts(part) AS (
    SELECT format('%s %s %s %s %s %s %s', c.relname, c.relkind, c.relpersistence, c.reloptions, c.relacl,
                  c.relrowsecurity, pg_get_expr(c.relpartbound, c.oid))
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s.%s %s %s %s %s %s %s', c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s %s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT format('%s(%s) %s %s', p.proname, pg_get_function_arguments(p.oid), p.prokind, p.prosrc)
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s %s %s', t.typname, t.typtype,
                  (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                   FROM pg_enum e WHERE e.enumtypid = t.oid))
    FROM pg_type t WHERE t.typnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s %s', p.polrelid::regclass, p.polname) FROM pg_policy p
    UNION ALL
    SELECT format('%s %s', r.ev_class::regclass, pg_get_ruledef(r.oid))
    FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('%s %s', s.setrole, s.setconfig) FROM pg_db_role_setting s
    WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT format('%s %s', extname, extversion) FROM pg_extension
    UNION ALL
    SELECT format('schema %s', nspacl) FROM pg_namespace WHERE nspname = 'public'
)
SELECT md5(string_agg(part, E'\\n' ORDER BY part)) FROM parts
"""


def _pg_catalog(database_url: str) -> tuple[str, list[str]]:
    """The catalog fingerprint of the database and its tables (partitions through their parents)."""
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            fingerprint = raw.execute(CATALOG_FINGERPRINT).fetchone()[0]
            tables = [
                row[0]
                for row in raw.execute(
                    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1"
                )
            ]
    finally:
        engine.dispose()
    return fingerprint, tables


def _run_script(database_url: str, script: str) -> None:
    # On a connection of its own: the dump sets search_path to '' for the rest of its session.
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            # Straight to psycopg without parameters: one simple-protocol round trip for every statement.
            conn.connection.dbapi_connection.execute(script)
    finally:
        engine.dispose()
