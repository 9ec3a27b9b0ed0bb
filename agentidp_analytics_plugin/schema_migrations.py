"""The plugin's own Alembic history, kept apart from the host's.

The plugin's revisions live in its package (``migrations/versions``) and record
their state in their own version table, ``analytics_alembic_version``, next to
the host's ``alembic_version`` in the same database: Alembic's
``version_table`` option, one history per table. The host's history never
sees a plugin revision, so its plain ``flask db upgrade``, ``flask db
migrate`` and ``flask db downgrade`` work exactly as without the plugin, and
the plugin's schema is applied by ``flask analytics db upgrade`` (or
:func:`upgrade` from Python), after the host's.

Every function here runs inside the host's app context and uses the host's
Flask-SQLAlchemy engine. Upgrades check first that the host tables the
plugin's foreign keys and roll-up need are there, and say which one is
missing and what to run.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import current_app
from sqlalchemy.engine import Connection

from .host_checks import find_missing_host_schema
from .resources import data_dir
from .schema import ACTIVE_AGENTS_TABLE, AGGREGATES_TABLE, CALL_PATTERNS_TABLE, JOB_STATE_TABLE

#: Where the plugin records which of its revisions the database has.
VERSION_TABLE = "analytics_alembic_version"

#: Upgrades from several processes at once (a deploy step in every replica)
#: queue on this PostgreSQL advisory lock instead of racing to create tables.
LOCK_KEY = zlib.crc32(b"agentidp_analytics.schema_migrations")


#: Each revision and the table it creates, newest first.
TABLE_OF_REVISION = (
    ("012_add_analytics_rollups", ACTIVE_AGENTS_TABLE),
    ("011_add_analytics_job_state", JOB_STATE_TABLE),
    ("010_add_analytics_call_patterns", CALL_PATTERNS_TABLE),
    ("009_add_analytics_aggregates", AGGREGATES_TABLE),
)


class SchemaError(RuntimeError):
    """The plugin's schema cannot be changed as asked; the message says what to do."""


@dataclass(frozen=True)
class Step:
    """One revision applied or reverted."""

    revision: str
    upgrade: bool
    doc: str

    def __str__(self) -> str:
        verb = "upgrade to" if self.upgrade else "downgrade from"
        return f"{verb} {self.revision}: {self.doc}"


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this version of the plugin ships."""
    revision = script_directory().get_current_head()
    assert revision is not None  # the plugin ships at least one revision
    return revision


def current() -> str | None:
    """The plugin revision the database is at; None before the first upgrade."""
    with _connection() as conn:
        heads = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()
    return heads[0] if heads else None


def history() -> list[tuple[str, str]]:
    """Every revision the plugin ships, oldest first, as (revision, first line of its docstring)."""
    revisions = list(script_directory().walk_revisions())
    return [(rev.revision, _doc(rev.doc)) for rev in reversed(revisions)]


def upgrade(revision: str = "head") -> list[Step]:
    """Apply the plugin's revisions up to ``revision``; returns the steps run.

    Refuses, naming the table and the command to run, while the host tables
    the plugin depends on are missing.
    """
    with _connection() as conn:
        check_host_tables(conn)
        inspector = sa.inspect(conn)
        if not _recorded(conn) and inspector.has_table(AGGREGATES_TABLE):
            # The newest revision whose table is there is the one the schema was built to.
            built = next(rev for rev, table in TABLE_OF_REVISION if inspector.has_table(table))
            raise SchemaError(
                f"Table {AGGREGATES_TABLE} exists, but no analytics plugin revision is recorded in "
                f"{VERSION_TABLE}. If the plugin's revisions created it, record that with "
                f"'flask analytics db stamp {built}', then run 'flask analytics db upgrade' again."
            )
        return _run(conn, command.upgrade, revision)


def upgrade_connection(conn: Connection, revision: str = "head") -> list[Step]:
    """Apply the plugin's revisions on ``conn``, a database the caller built itself (no host checks).

    For databases that are not the host's: the component gallery's in-memory
    mock tenants get the plugin's tables exactly as a host does.
    """
    return _run(conn, command.upgrade, revision)


def downgrade(revision: str = "-1") -> list[Step]:
    """Revert the plugin's revisions down to ``revision`` (``base`` drops every plugin table)."""
    with _connection() as conn:
        if not _recorded(conn):
            raise SchemaError("The analytics plugin's tables are not installed: there is nothing to downgrade.")
        return _run(conn, command.downgrade, revision)


def stamp(revision: str) -> None:
    """Record ``revision`` as applied without running anything (for schemas built by hand)."""
    with _connection() as conn:
        _run(conn, command.stamp, revision)


def check_host_tables(conn: Connection) -> None:
    """Raise :class:`SchemaError` naming the first host table or column the plugin needs but lacks."""
    state = current_app.extensions.get("agentidp_analytics")
    if state is None:
        raise SchemaError("The analytics plugin is not set up on this app: call its init_app(app) first.")
    problem = find_missing_host_schema(sa.inspect(conn), state.tables)
    if problem is not None and not problem.columns:
        key, name = problem.key, problem.table.name
        raise SchemaError(
            f"The host table {name!r} ({key}) does not exist in this database; the analytics "
            "plugin's tables refer to it. Create the host's tables first ('flask db upgrade'), "
            f"then run 'flask analytics db upgrade'. If the host names it differently, set {key}."
        )
    if problem is not None:
        raise SchemaError(
            f"The host table {problem.table.name!r} ({problem.key}) has no column "
            f"{', '.join(map(repr, problem.columns))}, which the host contract requires "
            "(see 'Mounting the plugin' in the README)."
        )


def run_env() -> None:
    """The body of the plugin's ``migrations/env.py``: run on the connection the caller opened."""
    from alembic import context

    config = context.config
    context.configure(
        connection=config.attributes["connection"],
        version_table=VERSION_TABLE,
        target_metadata=None,
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _config(stdout: TextIO | None = None) -> Config:
    config = Config(stdout=stdout or sys.stdout)
    config.set_main_option("script_location", data_dir("migrations"))
    return config


@contextmanager
def _connection() -> Iterator[Connection]:
    """One transaction for the whole command, serialised across processes on PostgreSQL.

    A 0.1.0 database first has its plugin revision moved out of the host's
    version table (see :mod:`.migration_setup`): asking the host's
    Flask-Migrate for its config does that, before this transaction starts.
    """
    migrate = current_app.extensions.get("migrate")
    if migrate is not None:
        migrate.migrate.get_config()
    engine = current_app.extensions["sqlalchemy"].engine
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
        yield conn


def _recorded(conn: Connection) -> bool:
    return bool(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads())


def _run(conn: Connection, fn: Callable[[Config, str], Any], revision: str) -> list[Step]:
    steps: list[Step] = []

    def on_version_apply(*, step: MigrationInfo, **_: Any) -> None:
        # Both ways, the revision applied or reverted is the step's upper end.
        steps.append(Step(step.up_revision_id or "", step.is_upgrade, _doc(step.up_revision.doc)))

    config = _config()
    config.attributes.update(connection=conn, on_version_apply=on_version_apply)
    try:
        fn(config, revision)
    except CommandError as exc:  # e.g. a revision it does not know, or downgrading past base
        raise SchemaError(f"Analytics plugin revision {revision!r}: {exc}") from exc
    return steps


def _doc(doc: str | None) -> str:
    lines = (doc or "").strip().splitlines()
    return lines[0] if lines else ""
