"""What the plugin does to the host's Flask-Migrate: hide its tables, and move 0.1.0's revision out.

The plugin's revisions have a history of their own (:mod:`.schema_migrations`),
so the host's history gains nothing. Two things remain to keep the host's
``flask db`` commands exactly as they were:

* Autogenerate. The plugin's tables are in the database but not in the host's
  models, so without a filter every ``flask db migrate`` would propose
  dropping them. An ``include_name`` filter in Flask-Migrate's configure
  arguments skips reflected tables named ``analytics_*`` that the host's
  metadata does not define (the host's own tables are never hidden).
* Databases created by plugin 0.1.0, whose revision sat in the host's
  ``alembic_version`` as a branch. The first ``flask db`` or ``flask analytics
  db`` command moves it to the plugin's version table, restoring the host
  revision it stood for (``ANALYTICS_MIGRATION_DEPENDS_ON``, which 0.1.0 hosts
  set). Nothing else is touched and no row of data moves.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask, current_app
from sqlalchemy.engine import Connection

from . import schema_migrations

log = logging.getLogger(__name__)

EXTENSION_KEY = "agentidp_analytics"

#: Tables the plugin creates all start with this; the host's autogenerate skips them.
PLUGIN_TABLE_PREFIX = "analytics_"

#: The only revision plugin 0.1.0 wrote into the host's version table.
LEGACY_REVISION = "009_add_analytics_aggregates"

DEPENDS_ON_KEY = "ANALYTICS_MIGRATION_DEPENDS_ON"


class LegacyLayoutError(schema_migrations.SchemaError):
    """A 0.1.0 database cannot be moved without a setting; the message names it."""


def register(app: Flask) -> bool:
    """Hook into the host's Flask-Migrate; False when the host does not use it."""
    depends_on = app.config.get(DEPENDS_ON_KEY)
    if depends_on is not None and (not isinstance(depends_on, str) or not depends_on.strip()):
        raise ValueError(
            f"{DEPENDS_ON_KEY} must be the host's Alembic revision id (a string) or None, got {depends_on!r}. "
            "It is only read to move a database created by plugin 0.1.0; new hosts leave it unset."
        )
    state = app.extensions.get("migrate")
    if state is None:
        return False
    if move_legacy_revision not in state.migrate.configure_callbacks:
        state.migrate.configure(move_legacy_revision)
    host_filter = state.configure_args.get("include_name")
    if getattr(host_filter, "_agentidp_analytics", False):
        return True
    metadata = state.metadata

    def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if (
            type_ == "table"
            and name
            and name.startswith(PLUGIN_TABLE_PREFIX)
            and parent_names.get("schema_qualified_table_name", name) not in metadata.tables
        ):
            return False
        if host_filter is not None:
            return host_filter(name, type_, parent_names)
        return True

    include_name._agentidp_analytics = True  # type: ignore[attr-defined]
    state.configure_args["include_name"] = include_name
    return True


def move_legacy_revision(config: Config) -> Config:
    """Flask-Migrate configure callback: move a 0.1.0 plugin revision out of the host's version table.

    Runs before every ``flask db`` command of apps with the plugin. A database
    that cannot be reached, or an SQLite file that does not exist yet, is left
    alone: the host's command reports that itself.
    """
    if EXTENSION_KEY not in current_app.extensions:
        return config
    engine = current_app.extensions["sqlalchemy"].engine
    if engine.dialect.name == "sqlite" and not _sqlite_file_exists(engine.url):
        return config
    args = current_app.extensions["migrate"].configure_args
    table = sa.table(
        args.get("version_table", "alembic_version"),
        sa.column("version_num", sa.String),
        schema=args.get("version_table_schema"),
    )
    try:
        with engine.begin() as conn:
            _move(conn, table, config)
    except sa.exc.OperationalError:
        log.debug("Database unreachable; 0.1.0 layout not checked.", exc_info=True)
    return config


def _move(conn: Connection, host_versions: sa.TableClause, config: Config) -> None:
    if not sa.inspect(conn).has_table(host_versions.name, schema=host_versions.schema):
        return
    column = host_versions.c.version_num
    rows = set(conn.execute(sa.select(column)).scalars())
    if LEGACY_REVISION not in rows:
        return
    rest = rows - {LEGACY_REVISION}
    restore = _host_revision_to_restore(rest, config)

    plugin = MigrationContext.configure(conn, opts={"version_table": schema_migrations.VERSION_TABLE})
    if not plugin.get_current_heads():
        plugin.stamp(schema_migrations.script_directory(), LEGACY_REVISION)
    conn.execute(sa.delete(host_versions).where(column == LEGACY_REVISION))
    if restore:
        conn.execute(sa.insert(host_versions).values(version_num=restore))
    log.warning(
        "Moved the analytics plugin's revision %s from %s to %s (the layout of plugin 0.1.0)%s. "
        "Run 'flask analytics db upgrade' to apply newer plugin revisions.",
        LEGACY_REVISION,
        host_versions.name,
        schema_migrations.VERSION_TABLE,
        f"; {host_versions.name} is at {restore} again" if restore else "",
    )


def _host_revision_to_restore(rest: set[str], config: Config) -> str | None:
    """The host revision 0.1.0's plugin revision stood for, unless a remaining row already covers it."""
    depends_on = current_app.config.get(DEPENDS_ON_KEY)
    if not depends_on:
        if rest:
            return None  # 0.1.0 without the setting: the plugin's branch stood alone
        raise LegacyLayoutError(
            f"This database was migrated by analytics plugin 0.1.0: its version table holds only the plugin's "
            f"revision {LEGACY_REVISION}, which also stood for the host revision it depended on. Set "
            f"{DEPENDS_ON_KEY} to that host revision (the one creating the tenants, agents and usage_events "
            "tables, as in 0.1.0) and run the command again; the plugin then moves its revision to its own table."
        )
    script = ScriptDirectory.from_config(config)
    try:
        script.get_revision(depends_on)
    except CommandError as exc:
        raise LegacyLayoutError(
            f"{DEPENDS_ON_KEY} = {depends_on!r} is not a revision of the host's migrations "
            f"({config.get_main_option('script_location')}): {exc}"
        ) from exc
    for row in rest:
        try:
            if any(rev.revision == depends_on for rev in script.iterate_revisions(row, "base")):
                return None
        except CommandError:
            continue  # a row from some other history; it cannot cover a host revision
    return depends_on


def _sqlite_file_exists(url: sa.URL) -> bool:
    database = url.database
    return bool(database) and database != ":memory:" and os.path.exists(database)
