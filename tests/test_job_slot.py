"""The nightly job runs once per slot, on the database's clock, however many processes fire it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Flask

from agentidp_analytics_plugin import aggregation, job_slot
from agentidp_analytics_plugin.state import get_state
from host_app import HostData


def test_the_slot_starts_at_the_last_scheduled_time_not_after_now():
    assert job_slot.slot_start(datetime(2026, 3, 5, 0, 4, tzinfo=UTC), 0, 5) == datetime(2026, 3, 4, 0, 5, tzinfo=UTC)
    assert job_slot.slot_start(datetime(2026, 3, 5, 0, 5, tzinfo=UTC), 0, 5) == datetime(2026, 3, 5, 0, 5, tzinfo=UTC)
    assert job_slot.slot_start(datetime(2026, 3, 5, 23, 0, tzinfo=UTC), 0, 5) == datetime(2026, 3, 5, 0, 5, tzinfo=UTC)


def _yesterdays_usage(app: Flask) -> date:
    host = HostData(app)
    tenant = host.tenant()
    with app.app_context():
        yesterday = job_slot.database_now(get_state(app).engine).date() - timedelta(days=1)
    host.events([(tenant, host.agent(tenant), yesterday, "api_calls", 5)])
    return yesterday


def test_a_second_scheduled_run_in_the_same_slot_does_nothing(make_app):
    app = make_app(ANALYTICS_JOB_HOUR=0, ANALYTICS_JOB_MINUTE=0)
    _yesterdays_usage(app)
    with app.app_context():
        first = get_state(app).aggregate_scheduled()
        second = get_state(app).aggregate_scheduled()

    assert first.status == "ran" and first.days
    assert second.status == "done-elsewhere" and not second.days


def test_a_manual_run_is_never_held_back_by_the_slot(make_app):
    app = make_app(ANALYTICS_JOB_HOUR=0, ANALYTICS_JOB_MINUTE=0)
    yesterday = _yesterdays_usage(app)
    with app.app_context():
        get_state(app).aggregate_scheduled()
        manual = get_state(app).aggregate(days=[yesterday])

    assert manual.status == "ran" and manual.days == [yesterday]


def test_the_scheduled_run_takes_its_date_from_the_database_not_the_host_clock(make_app, monkeypatch):
    app = make_app(ANALYTICS_JOB_HOUR=0, ANALYTICS_JOB_MINUTE=0)
    yesterday = _yesterdays_usage(app)
    monkeypatch.setattr(aggregation, "utc_today", lambda: date(2001, 1, 1))  # a host clock years off

    with app.app_context():
        report = get_state(app).aggregate_scheduled()
        status = get_state(app).status(today=yesterday + timedelta(days=1))

    assert yesterday in report.days
    assert status["complete_through"] == yesterday
