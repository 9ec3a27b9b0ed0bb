"""Checks of the host's side of the contract that can only run once the host is up.

Start-up validation (:mod:`.config`) cannot see the database or the host's
templates: a host registers its blueprints and templates after loading
plugins, and its tables may not exist yet when ``flask db upgrade`` builds the
app. So the tables and the base template are checked at first use, once per
process: the first analytics request (and each aggregation run) inspects the
configured tables; the first tab page looks the base template up. What is
wrong is named with the ``ANALYTICS_`` key to change, instead of surfacing as
"no such table" (a 503 on SQLite, an HTML 500 on PostgreSQL) or a bare
``TemplateNotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, Response, current_app, request
from jinja2 import TemplateNotFound
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, Inspector

from .blueprint import BLUEPRINT_NAME, bp
from .config import EXTENSION_KEY, runtime_flag
from .errors import HostContractError
from .schema import Tables

#: The config key that names each host table.
HOST_TABLE_KEYS = {
    "tenants": "ANALYTICS_TENANTS_TABLE",
    "agents": "ANALYTICS_AGENTS_TABLE",
    "usage_events": "ANALYTICS_USAGE_EVENTS_TABLE",
}
TAB_ENDPOINT = f"{BLUEPRINT_NAME}.tab"


@dataclass(frozen=True)
class MissingHostSchema:
    """The first host table (or its columns) the plugin reads but the database lacks."""

    key: str
    table: sa.Table
    columns: tuple[str, ...]  # empty: the table itself is missing


def find_missing_host_schema(inspector: Inspector, tables: Tables) -> MissingHostSchema | None:
    for role, key in HOST_TABLE_KEYS.items():
        table: sa.Table = getattr(tables, role)
        if not inspector.has_table(table.name):
            return MissingHostSchema(key, table, ())
        have = {column["name"] for column in inspector.get_columns(table.name)}
        missing = tuple(column.name for column in table.columns if column.name not in have)
        if missing:
            return MissingHostSchema(key, table, missing)
    return None


def check_tables(engine: Engine, tables: Tables) -> None:
    """Raise :class:`HostContractError` naming the key when a table or column the plugin reads is missing.

    One connection for every look-up: an inspector made from the engine checks
    a connection out for each one, and the job's engine has no pool, so each
    would open a new database connection (a dozen per aggregation run).
    """
    with engine.connect() as conn:
        _check_tables(sa.inspect(conn), tables)


def _check_tables(inspector: Inspector, tables: Tables) -> None:
    problem = find_missing_host_schema(inspector, tables)
    if problem is not None and not problem.columns:
        raise HostContractError(
            f"{problem.key}={problem.table.name!r}: the database has no such table. Set {problem.key} to the "
            f"name of the host's table (tables found: {', '.join(sorted(inspector.get_table_names())) or 'none'})."
        )
    if problem is not None:
        raise HostContractError(
            f"{problem.key}={problem.table.name!r}: the table has no column {', '.join(problem.columns)}, which "
            f"the plugin reads (the host contract: {problem.table.name}"
            f"({', '.join(c.name for c in problem.table.columns)}))."
        )
    for table in tables.plugin_tables:
        if not inspector.has_table(table.name):
            raise HostContractError(
                f"The plugin's table {table.name} does not exist: run 'flask analytics db upgrade' "
                "(see the README, 'Mounting the plugin')."
            )


def check_base_template(app: Flask) -> None:
    name = app.config["ANALYTICS_BASE_TEMPLATE"]
    try:
        app.jinja_env.get_template(name)
    except TemplateNotFound:
        raise HostContractError(
            f"ANALYTICS_BASE_TEMPLATE={name!r}: the host has no such template, so the Analytics tab cannot "
            "render. Set ANALYTICS_BASE_TEMPLATE to the template the host's pages extend."
        ) from None


@bp.before_request
def _check_at_first_use() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint == f"{BLUEPRINT_NAME}.static" or getattr(view, "__module__", "").endswith(".gallery"):
        return  # assets and the gallery (mock data) read no table
    state = current_app.extensions.get(EXTENSION_KEY)
    if state is None or not runtime_flag("ANALYTICS_ENABLED"):
        return  # switched off, the flag gate answers the host's 404
    if not state.tables_checked:
        try:
            check_tables(state.engine, state.tables)
        except (sa_exc.OperationalError, sa_exc.InterfaceError):
            return  # unreachable: the view reports the outage its own way; checked on a later request
        state.tables_checked = True
    if request.endpoint == TAB_ENDPOINT and not state.base_template_checked:
        check_base_template(current_app)
        state.base_template_checked = True


@bp.errorhandler(HostContractError)
def _contract_broken(exc: HostContractError) -> Response:
    """JSON everywhere (the API's error shape); the tab page, opened in a browser, gets a line of text."""
    if request.endpoint == TAB_ENDPOINT and not request.headers.get("HX-Request"):
        return Response(exc.message + "\n", exc.status, mimetype="text/plain")
    return exc.to_response()
