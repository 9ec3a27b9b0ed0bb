"""``flask analytics``: run or backfill the roll-up, and see how fresh it is."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

from .aggregation import utc_today
from .db_cli import db_cli
from .state import get_state

if TYPE_CHECKING:
    from .extension import AnalyticsState

analytics_cli = AppGroup("analytics", help="Advanced Analytics: aggregation, status and the plugin's tables.")
analytics_cli.add_command(db_cli)


class _Day(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date of the form YYYY-MM-DD.", param, ctx)


DAY = _Day()


def _state() -> AnalyticsState:
    return get_state(current_app)


@analytics_cli.command("aggregate")
@click.option("--date", "day", type=DAY, help="Aggregate this one day.")
@click.option("--from", "from_", type=DAY, help="First day of a backfill (with --to).")
@click.option("--to", type=DAY, help="Last day of a backfill (with --from).")
def aggregate_command(day: date | None, from_: date | None, to: date | None) -> None:
    """Aggregate usage_events into daily aggregates.

    With no option, does what the nightly job does: every day not yet
    aggregated up to yesterday, plus the re-aggregation window. Days are UTC;
    today cannot be aggregated until it is over.
    """
    today = utc_today()
    if day and (from_ or to):
        raise click.UsageError("Use either --date or --from/--to, not both.")
    if bool(from_) != bool(to):
        raise click.UsageError("--from and --to go together.")
    days: list[date] | None = None
    if day:
        from_ = to = day
    if from_ and to:
        if from_ > to:
            raise click.BadParameter(f"--from {from_} is after --to {to}.", param_hint="--from/--to")
        if to >= today:
            raise click.BadParameter(
                f"{to} is not over yet (today is {today} UTC); "
                f"the last day you can aggregate is {today - timedelta(days=1)}.",
                param_hint="--to/--date",
            )
        days = [from_ + timedelta(days=i) for i in range((to - from_).days + 1)]

    state = _state()
    if days is not None and len(days) > 7:
        with click.progressbar(length=len(days), label="Aggregating", show_pos=True) as bar:
            report = state.aggregate(days=days, on_day=lambda _result, _day: bar.update(1))
    else:
        report = state.aggregate(days=days)

    if report.status == "skipped":
        raise click.ClickException("Another process is aggregating right now; nothing was done. Try again later.")
    click.echo(
        f"Aggregated {len(report.days)} day(s): {report.rows_in} usage_events rows in, "
        f"{report.rows_out} aggregate rows out, {report.changed} changed, in {report.seconds:.2f}s."
    )
    if report.failed:
        for failed_day, reason in sorted(report.failed.items()):
            click.echo(f"  {failed_day}: FAILED and rolled back: {reason}", err=True)
        raise click.ClickException(f"{len(report.failed)} day(s) failed; they will be retried on the next run.")


@analytics_cli.command("status")
def status_command() -> None:
    """Show the last aggregated day, the last run and the lag behind yesterday."""
    status = _state().status()
    click.echo(f"Last aggregated day:   {status['last_aggregated_day'] or 'never'}")
    click.echo(f"Complete through:      {status['complete_through'] or 'never'}")
    click.echo(f"Last run:              {status['last_run'] or 'never'}")
    lag = status["lag_days"]
    click.echo(f"Lag behind yesterday:  {'n/a' if lag is None else f'{lag} day(s)'}")
    click.echo(f"Days pending:          {status['pending_days']}")


@analytics_cli.command("flush-call-patterns")
def flush_call_patterns_command() -> None:
    """Move counted API calls from Redis into analytics_call_patterns now (what the periodic job does).

    Safe to run while the job runs in the workers: each batch is added once.
    """
    from .call_setup import flush

    state = _state()
    if state.call_patterns is None:
        raise click.ClickException("ANALYTICS_CALL_PATTERNS_ENABLED is off: there are no call counts to flush.")
    if state.call_patterns.redis is None:
        click.echo("No Redis configured: each process adds its own counts to the table; nothing to flush here.")
        return
    click.echo(f"Call patterns: {flush(state)}.")
