"""Prometheus: the spec's five metrics, labelled by endpoint only, zero from start-up, job gauges from the database."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from agentidp_analytics_plugin import locking
from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.job_metrics import JobGauges, last_successful_run
from agentidp_analytics_plugin.params import API_ENDPOINTS, ENDPOINTS
from agentidp_analytics_plugin.state import get_state
from api_fixtures import Api
from host_app import HostData
from metrics_helpers import SPEC_METRICS, type_lines, value

LAST_RUN = "agentidp_analytics_aggregation_job_last_run"


def scrape(app, **headers) -> str:
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


@pytest.fixture
def metrics_text(api, seed):
    s = seed([("alpha", 1, "api_calls", 1)])
    for endpoint in API_ENDPOINTS:
        api.ok(endpoint, s.token)
        api.ok(endpoint, s.token)
    return scrape(api.app), s


@pytest.mark.parametrize(("name", "kind"), SPEC_METRICS, ids=[n for n, _ in SPEC_METRICS])
def test_metrics_endpoint_exposes_the_spec_metric_once(metrics_text, name, kind):
    text, _ = metrics_text
    assert type_lines(text, name) == [f"# TYPE {name} {kind}"]


def test_hits_misses_and_durations_are_labelled_by_endpoint_only(metrics_text):
    text, scenario = metrics_text
    assert value(text, "agentidp_analytics_cache_hits_total", endpoint="usage-summary") == 1
    assert value(text, "agentidp_analytics_cache_misses_total", endpoint="token-trends") == 1
    assert value(text, "agentidp_analytics_query_duration_ms_count", endpoint="agent-activity") == 1
    assert str(scenario.tenant) not in text
    assert not re.search(r"(tenant|agent)(_id)?=", text)


@pytest.mark.parametrize(
    "name",
    [
        "agentidp_analytics_cache_hits_total",
        "agentidp_analytics_cache_misses_total",
        "agentidp_analytics_cache_errors_total",
        "agentidp_analytics_query_duration_ms_count",
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_series_exists_at_zero_from_start_up(app, name, endpoint):
    assert value(scrape(app), name, endpoint=endpoint) == 0


def test_query_duration_is_observed_on_cache_misses_only(api, api_app, seed):
    s = seed([])
    for _ in range(3):
        api.ok("usage-summary", s.token)
    text = scrape(api_app)
    assert value(text, "agentidp_analytics_query_duration_ms_count", endpoint="usage-summary") == 1
    assert value(text, "agentidp_analytics_cache_hits_total", endpoint="usage-summary") == 2


def test_two_apps_in_one_process_count_separately(make_app, api_config):
    first, second = make_app(**api_config), make_app(**api_config)
    for app in (first, second):
        host = HostData(app)
        Api(app).ok("usage-summary", host.token(host.tenant()))
    for app in (first, second):
        assert value(scrape(app), "agentidp_analytics_cache_misses_total", endpoint="usage-summary") == 1


# --------------------------------------------------------------------------- job gauges


def ledger_last_run(app) -> float:
    with app.app_context():
        state = get_state(app)
        return last_successful_run(state.engine, state.tables)


def run_job(app) -> None:
    """The nightly job over one tenant's usage of a past day.

    A recent day: the job catches up every day from the first one with usage, so a
    fixed date would make the run (and the test) longer with every day that passes.
    """
    host = HostData(app)
    host.events([(host.tenant(), None, utc_today() - timedelta(days=3), "api_calls", 3)])
    with app.app_context():
        report = get_state(app).aggregate_pending()
    assert report.ok, report.failed


def test_last_run_is_zero_before_the_first_run(app):
    assert value(scrape(app), LAST_RUN) == 0


def test_a_run_sets_last_run_and_duration(app):
    run_job(app)
    text = scrape(app)
    assert value(text, LAST_RUN) == pytest.approx(time.time(), abs=60)
    assert value(text, "agentidp_analytics_aggregation_job_duration_ms") > 0


def test_last_run_survives_a_restart(make_app):
    before = make_app()
    run_job(before)
    after_restart = make_app()  # a new process: fresh metrics, same database
    assert value(scrape(after_restart), LAST_RUN) == pytest.approx(ledger_last_run(before), abs=0.001)


def test_a_worker_that_lost_the_job_lock_reports_the_last_run_from_the_database(pg_app):
    from host_app import create_host_app

    winner = pg_app
    run_job(winner)
    loser = create_host_app(winner.config["SQLALCHEMY_DATABASE_URI"])
    with winner.app_context():
        holder = get_state(winner).engine.connect()
    try:
        assert locking.try_lock(holder)
        with loser.app_context():
            assert get_state(loser).aggregate_pending().status == "skipped"
        metrics = get_state(loser).metrics
        assert metrics.job_last_run._value.get() == pytest.approx(ledger_last_run(winner), abs=0.001)
    finally:
        locking.unlock(holder)
        holder.close()
        with loser.app_context():
            loser.extensions["sqlalchemy"].engine.dispose()


@pytest.fixture
def job_log(caplog):
    """Warnings of the job gauges; request it after the app (migrating reconfigures logging)."""
    # Alembic's fileConfig in the test host disables the loggers that exist when it runs.
    logging.getLogger("agentidp_analytics_plugin.job_metrics").disabled = False
    caplog.set_level("WARNING", logger="agentidp_analytics_plugin.job_metrics")
    return caplog


def test_an_unreachable_database_keeps_the_last_known_run_and_warns_once(app, tmp_path, job_log):
    run_job(app)
    known = value(scrape(app), LAST_RUN)
    state = get_state(app)
    unreachable = sa.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite'}")
    gauges = JobGauges(state.metrics, lambda: last_successful_run(unreachable, state.tables))
    for _ in range(3):
        gauges.refresh(force=True)
    assert value(scrape(app), LAST_RUN) == known
    assert len([r for r in job_log.records if r.levelname == "WARNING"]) == 1
