"""The roll-up's invariants (DESIGN.md "Aggregation invariants"), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from agentidp_analytics_plugin import locking
from agentidp_analytics_plugin.state import get_state
from host_app import HostData

TODAY = date(2026, 11, 20)
D = TODAY - timedelta(days=1)
BIGINT_MAX = 2**63 - 1


def state(app: Flask):
    return get_state(app)


def aggregate(app: Flask, days=None, today: date = TODAY):
    with app.app_context():
        return state(app).aggregate(days=days, today=today)


def _id(value) -> str | None:
    return str(uuid.UUID(str(value))) if value else None


def aggregates(host: HostData, day: date | None = None) -> dict[tuple, int]:
    rows = host.execute(
        "SELECT tenant_id, agent_id, date, metric_type, count FROM analytics_daily_aggregates"
        + (" WHERE date = :d" if day else ""),
        **({"d": day} if day else {}),
    ).fetchall()
    return {(_id(t), _id(a), str(d), m): c for t, a, d, m, c in rows}


def source_sums(host: HostData, day: date) -> dict[tuple, int]:
    rows = host.execute(
        "SELECT tenant_id, agent_id, date, metric_type, SUM(count) FROM usage_events WHERE date = :d "
        "GROUP BY tenant_id, agent_id, date, metric_type",
        d=day,
    ).fetchall()
    return {(_id(t), _id(a), str(d), m): c for t, a, d, m, c in rows}


def ledger(host: HostData) -> dict[str, tuple]:
    rows = host.execute("SELECT date, aggregated_at, rows_in, rows_out FROM analytics_aggregated_days").fetchall()
    return {str(d): (at, i, o) for d, at, i, o in rows}


@pytest.fixture
def scenario(host: HostData):
    """Two tenants, agents, tenant-wide rows, and several source rows per group."""
    acme, globex = host.tenant("pro"), host.tenant("enterprise")
    a1, a2, g1 = host.agent(acme, "a1"), host.agent(acme, "a2"), host.agent(globex, "g1")
    host.events(
        [
            (acme, a1, D, "api_calls", 10),
            (acme, a1, D, "api_calls", 5),
            (acme, a1, D, "token_issuances", 2),
            (acme, a2, D, "api_calls", 7),
            (acme, None, D, "api_calls", 3),
            (acme, None, D, "api_calls", 4),
            (globex, g1, D, "credential_rotations", 1),
            (globex, None, D, "token_failures", 2),
            (acme, a1, D - timedelta(days=1), "api_calls", 100),
        ]
    )
    return {"acme": acme, "globex": globex, "a1": a1, "a2": a2, "g1": g1}


def test_aggregates_for_a_day_equal_the_sums_of_its_usage_events(app, host, scenario):
    aggregate(app, days=[D])
    assert aggregates(host, D) == source_sums(host, D)
    assert aggregates(host, D)[(str(scenario["acme"]), None, str(D), "api_calls")] == 7


def test_rerunning_a_day_changes_nothing(app, host, scenario):
    aggregate(app, days=[D])
    before = host.execute("SELECT id, count, updated_at FROM analytics_daily_aggregates ORDER BY id").fetchall()
    report = aggregate(app, days=[D])
    after = host.execute("SELECT id, count, updated_at FROM analytics_daily_aggregates ORDER BY id").fetchall()
    assert report.changed == 0
    assert after == before


def test_rerunning_keeps_one_tenant_wide_row_per_group(app, host, scenario):
    for _ in range(3):
        aggregate(app, days=[D])
    (n,) = host.execute(
        "SELECT COUNT(*) FROM analytics_daily_aggregates WHERE agent_id IS NULL AND date = :d", d=D
    ).one()
    assert n == 2


def test_late_events_update_the_day_on_the_next_run(app, host, scenario):
    aggregate(app, days=[D])
    host.events([(scenario["acme"], scenario["a1"], D, "api_calls", 1000)])
    report = aggregate(app, days=[D])
    assert report.changed == 1
    assert aggregates(host, D) == source_sums(host, D)


def test_a_group_gone_from_the_source_is_gone_from_the_aggregates(app, host, scenario):
    aggregate(app, days=[D])
    host.execute("DELETE FROM usage_events WHERE metric_type = 'credential_rotations'")
    aggregate(app, days=[D])
    assert aggregates(host, D) == source_sums(host, D)
    assert not any(key[3] == "credential_rotations" for key in aggregates(host, D))


def test_deleting_an_agent_keeps_tenant_totals(app, host, scenario):
    aggregate(app, days=[D - timedelta(days=1), D])
    totals = host.execute(
        "SELECT tenant_id, metric_type, SUM(count) FROM analytics_daily_aggregates GROUP BY tenant_id, metric_type"
    ).fetchall()
    host.delete_agent(scenario["a1"])  # collides with acme's tenant-wide api_calls row unless folded
    after = host.execute(
        "SELECT tenant_id, metric_type, SUM(count) FROM analytics_daily_aggregates GROUP BY tenant_id, metric_type"
    ).fetchall()
    assert sorted(after) == sorted(totals)
    assert all(key[1] != str(scenario["a1"]) for key in aggregates(host))


def test_deleted_agent_then_rerun_still_equals_the_source(app, host, scenario):
    aggregate(app, days=[D])
    host.delete_agent(scenario["a1"])  # the host's usage_events rows become tenant-wide too
    aggregate(app, days=[D])
    assert aggregates(host, D) == source_sums(host, D)


def test_deleting_a_tenant_removes_its_aggregates(app, host, scenario):
    aggregate(app, days=[D])
    host.delete_tenant(scenario["acme"])
    assert all(key[0] != str(scenario["acme"]) for key in aggregates(host))
    assert any(key[0] == str(scenario["globex"]) for key in aggregates(host))


def test_first_run_backfills_from_the_first_day_with_events(app, host, scenario):
    report = aggregate(app)
    assert report.days[0] == D - timedelta(days=1)
    assert report.days[-1] == D


def test_today_is_never_aggregated(app, host, scenario):
    host.events([(scenario["acme"], scenario["a1"], TODAY, "api_calls", 9)])
    report = aggregate(app)
    assert TODAY not in report.days
    assert not aggregates(host, TODAY)


def test_a_missed_night_is_caught_up_on_the_next_run(app, host, scenario):
    aggregate(app, today=D)  # the run of the night before D
    missed = [D, D + timedelta(days=1)]
    host.events([(scenario["acme"], scenario["a2"], d, "api_calls", 1) for d in missed])
    report = aggregate(app, today=TODAY + timedelta(days=2))  # no run for two nights
    assert set(missed) <= set(report.days)
    for day in missed:
        assert aggregates(host, day) == source_sums(host, day)


def test_the_recent_window_is_redone_and_older_days_are_not(make_app, host, scenario):
    app = make_app(migrate=False, ANALYTICS_REAGGREGATE_DAYS=2)
    old = D - timedelta(days=1)
    aggregate(app)
    host.events([(scenario["acme"], scenario["a1"], day, "api_calls", 1) for day in (D, old)])
    report = aggregate(app, today=TODAY)
    assert report.days == [old, D]  # window of 2 days ending yesterday
    report = aggregate(app, today=TODAY + timedelta(days=2))
    assert old not in report.days


def _day_statements(app: Flask, day: date) -> list[str]:
    statements: list[str] = []
    with app.app_context():
        engine = state(app).engine
        listener = lambda *a: statements.append(a[2])  # noqa: E731
        sa.event.listen(engine, "before_cursor_execute", listener)
        try:
            aggregate(app, days=[day])
        finally:
            sa.event.remove(engine, "before_cursor_execute", listener)
    # Per run, not per day: the partitioned layout's upkeep reads the catalogue. Besides the day's own
    # statements: the run's job state, first-day probe and generation, the job gauges' read of the ledger
    # and, on PostgreSQL, the lock and its release.
    return [s for s in statements if "pg_class" not in s and "pg_inherits" not in s]


def test_each_day_is_a_fixed_number_of_statements_whatever_the_row_count(app, host, scenario):
    aggregate(app, days=[D - timedelta(days=30)])  # the first run in a process also checks the host's tables
    few = _day_statements(app, D)
    host.events([(scenario["acme"], scenario["a2"], D, "api_calls", 1)] * 500)
    host.events([(scenario["acme"], host.agent(scenario["acme"], f"n{i}"), D, "api_calls", 1) for i in range(50)])
    many = _day_statements(app, D)
    recorded = [s for s in many if s.lstrip().upper().startswith("INSERT INTO ANALYTICS_DAY_CHANGES")]
    upserts = [s for s in many if s.lstrip().upper().startswith("INSERT INTO ANALYTICS_DAILY_AGGREGATES")]
    assert "GROUP BY" in recorded[0].upper()
    assert len(upserts) == 1
    assert len(many) == len(few) <= 28


def test_a_failing_day_rolls_back_whole_and_is_retried(app, host, scenario):
    aggregate(app, days=[D])
    before_rows, before_ledger = aggregates(host, D), ledger(host)[str(D)]
    # Two counts whose sum exceeds BIGINT: a real error from the database mid-day.
    host.events([(scenario["globex"], scenario["g1"], D, "api_calls", BIGINT_MAX)] * 2)
    host.events([(scenario["acme"], scenario["a1"], D, "token_issuances", 40)])
    report = aggregate(app, days=[D - timedelta(days=1), D])
    assert list(report.failed) == [D]
    assert report.days == [D - timedelta(days=1)]
    assert aggregates(host, D) == before_rows
    assert ledger(host)[str(D)] == before_ledger
    with app.app_context():
        assert state(app).metrics.job_failures._value.get() == 1
    host.execute("DELETE FROM usage_events WHERE count = :c", c=BIGINT_MAX)
    report = aggregate(app, days=[D])
    assert report.ok
    assert aggregates(host, D) == source_sums(host, D)


def test_a_successful_run_sets_the_job_gauges(app, host, scenario):
    aggregate(app, days=[D])
    with app.app_context():
        metrics = state(app).metrics
        assert metrics.job_last_run._value.get() == pytest.approx(time.time(), abs=60)
        assert metrics.job_duration_ms._value.get() > 0


def test_the_job_skips_while_another_process_holds_the_lock(pg_app, pg_host):
    tenant = pg_host.tenant()
    pg_host.events([(tenant, None, D, "api_calls", 1)])
    with pg_app.app_context():
        other = state(pg_app).engine.connect()
    try:
        assert locking.try_lock(other)
        report = aggregate(pg_app)
        assert report.status == "skipped"
        assert not aggregates(pg_host)
    finally:
        locking.unlock(other)
        other.close()
    assert aggregate(pg_app).ok


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import date
    from agentidp_analytics_plugin.state import get_state
    from host_app import create_host_app
    url, start_at, today = sys.argv[1], float(sys.argv[2]), date.fromisoformat(sys.argv[3])
    app = create_host_app(url, ANALYTICS_REAGGREGATE_DAYS=0)
    with app.app_context():
        app.extensions["sqlalchemy"].engine.connect().close()
        time.sleep(max(0.0, start_at - time.time()))
        report = get_state(app).aggregate_pending(today=today)
    print(json.dumps({"status": report.status, "days": [d.isoformat() for d in report.days]}))
    """
)


def test_two_processes_running_the_job_at_once_do_the_work_once(pg_app, pg_host, pg_url):
    tenant = pg_host.tenant()
    agent = pg_host.agent(tenant)
    days = [D - timedelta(days=i) for i in range(60)]
    pg_host.events([(tenant, agent, d, m, 3) for d in days for m in ("api_calls", "token_issuances")])
    start_at = time.time() + 4
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, pg_url, str(start_at), TODAY.isoformat()],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    done = [d for r in results for d in r["days"]]
    assert sorted(done) == sorted(d.isoformat() for d in days)  # every day once, none twice
    for day in days:
        assert aggregates(pg_host, day) == source_sums(pg_host, day)
