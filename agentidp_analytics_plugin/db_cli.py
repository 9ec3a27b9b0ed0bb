"""``flask analytics db ...``: the plugin's tables, through their own Alembic history."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from flask.cli import AppGroup

from . import schema_migrations
from .schema_migrations import SchemaError

T = TypeVar("T")

db_cli = AppGroup(
    "db",
    help=(
        "Create, update or remove the analytics plugin's tables. They have their own Alembic "
        f"history (version table {schema_migrations.VERSION_TABLE}), apart from the host's: run "
        "'flask db upgrade' for the host first, then 'flask analytics db upgrade'."
    ),
)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from exc


def _echo_steps(steps: list[schema_migrations.Step]) -> None:
    for step in steps:
        click.echo(f"  {step}")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Create or update the plugin's tables, up to REVISION (default: the newest).

    Needs the host's tables (tenants, agents, usage_events, or the names set in
    ANALYTICS_*_TABLE): run the host's 'flask db upgrade' first. Running it
    again when up to date changes nothing.
    """
    steps = _run(lambda: schema_migrations.upgrade(revision))
    _echo_steps(steps)
    current = _run(schema_migrations.current)
    click.echo(f"Analytics schema at {current}." if steps else f"Analytics schema at {current}: already up to date.")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade_command(revision: str) -> None:
    """Revert the plugin's revisions down to REVISION (default: the last one).

    'base' removes every analytics table and its data; the host's tables are
    never touched. Run it before the host's 'flask db downgrade' removes the
    tables the plugin's tables refer to.
    """
    steps = _run(lambda: schema_migrations.downgrade(revision))
    _echo_steps(steps)
    click.echo(f"Analytics schema at {_run(schema_migrations.current) or 'base (no analytics tables)'}.")


@db_cli.command("current")
def current_command() -> None:
    """Show the plugin revision the database is at, and whether it is the newest."""
    current = _run(schema_migrations.current)
    head = schema_migrations.head()
    if current is None:
        click.echo(f"Analytics schema not installed (newest revision: {head}). Run 'flask analytics db upgrade'.")
    elif current == head:
        click.echo(f"{current} (head)")
    else:
        click.echo(f"{current} (behind head {head}: run 'flask analytics db upgrade')")


@db_cli.command("history")
def history_command() -> None:
    """List the plugin's revisions, oldest first."""
    for revision, doc in schema_migrations.history():
        click.echo(f"{revision}: {doc}")


@db_cli.command("stamp")
@click.argument("revision")
def stamp_command(revision: str) -> None:
    """Record REVISION as applied without running it.

    For analytics tables created by hand from a revision's SQL. Nothing is
    created or dropped.
    """
    _run(lambda: schema_migrations.stamp(revision))
    click.echo(f"Analytics schema recorded at {revision}.")


@db_cli.command("partition")
def partition_command() -> None:
    """Turn analytics_daily_aggregates into monthly partitions (PostgreSQL; for large installs).

    One transaction: every row is copied into a table partitioned by month
    under the same name and counted before the plain table goes; on any error
    nothing changes. Writes to the table wait while it runs (run it at a quiet
    hour; about a minute per 10 million rows). Running it again does nothing.
    """
    from flask import current_app

    from . import partitions
    from .aggregation import utc_today
    from .state import get_state

    state = get_state()
    with state.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            raise click.ClickException("The partitioned layout needs PostgreSQL.")
        if partitions.is_partitioned(conn):
            click.echo("analytics_daily_aggregates is already partitioned by month.")
            return
        ahead = current_app.config["ANALYTICS_PARTITIONS_AHEAD"]
        copied = partitions.convert(conn, months_ahead=ahead, today=utc_today())
        made = partitions.months(conn)
    click.echo(
        f"analytics_daily_aggregates is now partitioned by month: {copied} rows copied, "
        f"{len(made)} monthly partitions ({made[0]:%Y-%m} to {made[-1]:%Y-%m}) and a default one."
    )
