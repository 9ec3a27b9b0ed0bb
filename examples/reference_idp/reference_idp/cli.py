"""``flask idp ...``: operator commands of the host (demo data, tenant API tokens)."""

from __future__ import annotations

from typing import Any

import click
import flask_migrate
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from .extensions import db
from .models import Tenant
from .seed import seed_demo
from .tokens import create_tenant_api_token

idp_cli = AppGroup("idp", help="Operate the reference Agent IdP.")

ANALYTICS_EXTENSION = "agentidp_analytics"


@idp_cli.command("seed-demo")
@click.option("--reset", is_flag=True, help="Rebuild the demo tenants even if they exist.")
@click.option(
    "--with-probe-agents",
    is_flag=True,
    help="Give acme two more agents named like markup and 190 characters long (for tests).",
)
def seed_demo_command(reset: bool, with_probe_agents: bool) -> None:
    """Migrate to the latest schema, then load three demo tenants with 120 days of usage.

    Runs what an operator runs: the host's 'flask db upgrade', then the analytics
    plugin's own 'flask analytics db upgrade' when the plugin is loaded.
    """
    flask_migrate.upgrade()
    analytics = current_app.extensions.get(ANALYTICS_EXTENSION)
    if analytics is not None:
        analytics.upgrade_schema()
    result = seed_demo(
        current_app.config["DEMO_PASSWORD"], reset=reset, probe_agents=with_probe_agents
    )
    if result.created:
        click.echo("Demo tenants created.")
    else:
        click.echo("Demo tenants already present; left unchanged (use --reset to rebuild).")
    counts = ", ".join(f"{name}={value}" for name, value in result.counts.items())
    click.echo(f"Rows: {counts}")

    if analytics is not None:
        report = analytics.aggregate_pending()
        _echo_rollup(report)
        # Days the plugin had already aggregated before this seed (a rebuilt demo,
        # or a roll-up that ran on an empty database) would keep stale aggregates.
        stale = sorted(set(result.days) - set(report.days)) if result.created else []
        if stale and hasattr(analytics, "aggregate"):
            _echo_rollup(analytics.aggregate(days=stale))

    click.echo("\nDemo logins (dashboard at /login):")
    for login in result.logins:
        click.echo(f"  {login.email:<24} {login.password}   ({login.tenant}, {login.tier})")
    click.echo(
        f"\nSample agent credentials (acme): client_id={result.sample_client_id} "
        f"client_secret={result.sample_client_secret}"
    )
    click.echo("Tenant API token for the analytics API: flask --app reference_idp idp token acme")


def _echo_rollup(report: Any) -> None:
    """Print an analytics roll-up report (days, rows_in, rows_out, seconds)."""
    days = sorted(report.days)
    span = f"{days[0]} .. {days[-1]}" if days else "nothing pending"
    status = getattr(report, "status", "ran")
    click.echo(
        f"Analytics roll-up ({status}): {len(days)} day(s) ({span}), {report.rows_in} usage rows "
        f"in, {report.rows_out} aggregate rows out, {report.seconds:.2f} s."
    )


@idp_cli.command("token")
@click.argument("slug")
@click.option("--name", default="cli", show_default=True, help="Label kept with the token.")
def token_command(slug: str, name: str) -> None:
    """Create a tenant API token (Bearer) for the tenant SLUG and print it once."""
    try:
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    except sa.exc.SQLAlchemyError as exc:
        raise click.ClickException(
            f"Cannot read tenants ({type(exc).__name__}). Is the schema up to date? "
            "Run 'flask --app reference_idp db upgrade'."
        ) from exc
    if tenant is None:
        known = (
            ", ".join(db.session.scalars(sa.select(Tenant.slug).order_by(Tenant.slug))) or "none"
        )
        raise click.ClickException(
            f"No tenant with slug {slug!r} (known: {known}). "
            "Run 'flask --app reference_idp idp seed-demo' to create the demo tenants."
        )
    token = create_tenant_api_token(tenant, name)
    db.session.commit()
    click.echo(token)
