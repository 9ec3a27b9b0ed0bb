"""``flask analytics aggregate`` and ``flask analytics status``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agentidp_analytics_plugin import locking
from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.state import get_state

YESTERDAY = utc_today() - timedelta(days=1)


@pytest.fixture
def data(host):
    tenant = host.tenant()
    agent = host.agent(tenant)
    host.events([(tenant, agent, YESTERDAY - timedelta(days=i), "api_calls", i + 1) for i in range(20)])
    return tenant


def aggregated_days(host) -> list[str]:
    return sorted(str(d) for (d,) in host.execute("SELECT date FROM analytics_aggregated_days").fetchall())


def test_aggregate_without_options_catches_up_to_yesterday(app, host, data):
    result = app.test_cli_runner().invoke(args=["analytics", "aggregate"])
    assert result.exit_code == 0, result.output
    assert "Aggregated 20 day(s)" in result.output
    assert aggregated_days(host)[-1] == YESTERDAY.isoformat()


def test_aggregate_one_date(app, host, data):
    result = app.test_cli_runner().invoke(args=["analytics", "aggregate", "--date", YESTERDAY.isoformat()])
    assert result.exit_code == 0, result.output
    assert aggregated_days(host) == [YESTERDAY.isoformat()]


def test_backfill_a_range_shows_progress_and_aggregates_every_day(app, host, data):
    start = YESTERDAY - timedelta(days=9)
    result = app.test_cli_runner().invoke(
        args=["analytics", "aggregate", "--from", start.isoformat(), "--to", YESTERDAY.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "Aggregating" in result.output
    assert len(aggregated_days(host)) == 10


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "is not a date"),
        (["--date", "yesterday"], "is not a date"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "is after"),
        (["--date", utc_today().isoformat()], "is not over yet"),
        (["--from", "2026-03-01"], "go together"),
        (["--date", "2026-03-01", "--from", "2026-03-01", "--to", "2026-03-02"], "either --date or --from"),
    ],
    ids=["bad-month", "not-a-date", "from-after-to", "today", "from-without-to", "date-and-range"],
)
def test_bad_dates_fail_clearly_and_write_nothing(app, host, data, args, message):
    result = app.test_cli_runner().invoke(args=["analytics", "aggregate", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert aggregated_days(host) == []


def test_a_failing_day_exits_non_zero_and_names_the_day(app, host, data):
    host.events([(data, None, YESTERDAY, "api_calls", 2**63 - 1)] * 2)
    result = app.test_cli_runner().invoke(args=["analytics", "aggregate", "--date", YESTERDAY.isoformat()])
    assert result.exit_code == 1
    assert f"{YESTERDAY}: FAILED and rolled back" in result.output
    assert aggregated_days(host) == []


def test_status_before_any_run_says_never(app):
    result = app.test_cli_runner().invoke(args=["analytics", "status"])
    assert result.exit_code == 0
    assert "Last aggregated day:   never" in result.output


def test_status_reports_the_last_day_and_the_lag(app, host, data):
    runner = app.test_cli_runner()
    first = YESTERDAY - timedelta(days=19)
    runner.invoke(args=["analytics", "aggregate", "--from", first.isoformat(), "--to", str(YESTERDAY - timedelta(2))])
    result = runner.invoke(args=["analytics", "status"])
    assert f"Last aggregated day:   {YESTERDAY - timedelta(days=2)}" in result.output
    assert f"Complete through:      {YESTERDAY - timedelta(days=2)}" in result.output
    assert "Lag behind yesterday:  2 day(s)" in result.output
    assert "Days pending:          2" in result.output


def test_status_after_one_day_of_a_longer_history_claims_nothing_complete(app, host, data):
    runner = app.test_cli_runner()
    runner.invoke(args=["analytics", "aggregate", "--date", (YESTERDAY - timedelta(days=2)).isoformat()])
    result = runner.invoke(args=["analytics", "status"])
    assert f"Last aggregated day:   {YESTERDAY - timedelta(days=2)}" in result.output
    assert "Complete through:      never" in result.output
    assert "Days pending:          19" in result.output


def test_aggregate_while_another_process_runs_exits_non_zero(pg_app, pg_host):
    with pg_app.app_context():
        other = get_state(pg_app).engine.connect()
    try:
        locking.try_lock(other)
        result = pg_app.test_cli_runner().invoke(args=["analytics", "aggregate"])
    finally:
        locking.unlock(other)
        other.close()
    assert result.exit_code == 1
    assert "Another process is aggregating" in result.output


def test_dates_are_parsed_as_iso_days():
    from agentidp_analytics_plugin.cli import DAY

    assert DAY.convert("2026-03-01", None, None) == date(2026, 3, 1)
