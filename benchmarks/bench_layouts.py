"""Capacity figures for docs/deployment.md: the plain and the partitioned layout side by side, in one run.

Fills ``analytics_daily_aggregates`` directly (generate_series) with
``--tenants`` x ``--agents`` x ``--days`` x 4 metrics rows, then, on the plain
layout and again after ``flask analytics db partition``:

- storage: bytes of the table with its indexes (all partitions), and per row;
- reads: the service's usage-summary (30 and 365 days) and token-trends (90
  days), uncached, p50 of ``--runs``;
- the nightly roll-up of one day of ``usage_events`` (``--events`` rows);
- retention of the oldest month: one ``DROP TABLE`` of a partition against
  batched deletes on the plain layout.

    python benchmarks/bench_layouts.py [--tenants 50] [--agents 20] [--days 365] [--runs 9]

Needs PostgreSQL (TEST_DATABASE_URL); uses and drops ``analytics_bench_layouts``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from agentidp_analytics_plugin import partitions, retention
from agentidp_analytics_plugin.service import AnalyticsService
from agentidp_analytics_plugin.state import get_state
from host_app import create_host_app, upgrade_schema
from testenv import fresh_database

DATABASE = "analytics_bench_layouts"
LAST_DAY = date(2026, 11, 1)
METRICS = "ARRAY['api_calls','token_issuances','token_failures','credential_rotations']"


def seed(engine: sa.Engine, tenants: int, agents: int, days: int, events: int) -> list:
    first = LAST_DAY - timedelta(days=days - 1)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 't' || i, 'pro' "
            "FROM generate_series(1, :n) i"), {"n": tenants})
        conn.execute(sa.text(
            "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
            "FROM tenants t, generate_series(1, :n) i"), {"n": agents})
        conn.execute(sa.text(
            f"""
            INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count)
            SELECT a.tenant_id, a.id, d::date, m, 1 + (random() * 500)::int
              FROM agents a, generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
                   unnest({METRICS}) m
            """), {"first": first, "last": LAST_DAY})
        conn.execute(sa.text(
            "INSERT INTO analytics_aggregated_days (date, rows_in, rows_out, duration_ms) "
            "SELECT d::date, 0, 0, 0 FROM generate_series(CAST(:first AS date), CAST(:last AS date), "
            "interval '1 day') d"), {"first": first, "last": LAST_DAY})
        # One more day of raw events for the roll-up, spread over every agent and metric.
        conn.execute(sa.text(
            f"""
            INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
            SELECT a.tenant_id, a.id, CAST(:day AS date), m, 1
              FROM (SELECT * FROM agents ORDER BY id) a, unnest({METRICS}) m,
                   generate_series(1, GREATEST(1, :events / (SELECT 4 * count(*) FROM agents))) k
            """), {"day": LAST_DAY + timedelta(days=1), "events": events})
        ids = conn.execute(sa.text("SELECT id FROM tenants ORDER BY slug LIMIT 5")).scalars().all()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return ids


def storage(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        size = conn.execute(sa.text(
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) "
            "FROM pg_partition_tree('analytics_daily_aggregates')), "
            "pg_total_relation_size('analytics_daily_aggregates'))"
        )).scalar_one()
        rows = conn.execute(sa.text("SELECT count(*) FROM analytics_daily_aggregates")).scalar_one()
    return int(size), rows


def p50_ms(fn, runs: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def reads(app, engine: sa.Engine, tenants: list, runs: int) -> dict[str, float]:
    state = get_state(app)
    uncached = AnalyticsService(engine, state.tables, state.metrics, None, state.service.ttl)
    calls = {
        "usage-summary 30 d": lambda t: uncached.get_usage_summary(t, LAST_DAY - timedelta(days=29), LAST_DAY),
        "usage-summary 365 d": lambda t: uncached.get_usage_summary(t, LAST_DAY - timedelta(days=364), LAST_DAY),
        "token-trends 90 d": lambda t: uncached.get_token_trends(t, LAST_DAY - timedelta(days=89), LAST_DAY),
    }
    with app.app_context():
        return {
            name: p50_ms(lambda c=call: [c(t) for t in tenants], runs) / len(tenants) for name, call in calls.items()
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    url = fresh_database(DATABASE)
    app = create_host_app(url, ANALYTICS_RATELIMIT_ENABLED=False)
    upgrade_schema(app)
    engine = sa.create_engine(url)
    started = time.perf_counter()
    tenants = seed(engine, args.tenants, args.agents, args.days, args.events)
    print(f"seeded in {time.perf_counter() - started:.0f} s")
    state = get_state(app)
    results: dict[str, dict[str, str]] = {}
    day = LAST_DAY + timedelta(days=1)
    oldest = partitions.month_of(LAST_DAY - timedelta(days=args.days - 1))
    for layout in ("plain", "partitioned"):
        if layout == "partitioned":
            started = time.perf_counter()
            result = app.test_cli_runner().invoke(args=["analytics", "db", "partition"])
            assert result.exit_code == 0, result.output
            convert_s = time.perf_counter() - started
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
        size, rows = storage(engine)
        column = results.setdefault(layout, {})
        column["rows"] = f"{rows:,}"
        column["storage (table + indexes)"] = f"{size / 2**20:,.0f} MB"
        column["bytes per row"] = f"{size / rows:.0f}"
        for name, ms in reads(app, engine, tenants, args.runs).items():
            column[f"{name}, per call (p50)"] = f"{ms:.1f} ms"
        with app.app_context():
            samples = []
            for _ in range(3):
                t0 = time.perf_counter()
                report = state.aggregate(days=[day])
                samples.append(time.perf_counter() - t0)
                assert report.ok, report.failed
            column["roll-up of one day (p50 of 3)"] = f"{statistics.median(samples):.2f} s ({report.rows_in:,} events)"
        with engine.connect() as conn:
            t0 = time.perf_counter()
            dropped, deleted = retention.apply(conn, state.tables, partitions.next_month(oldest))
            what = f"{len(dropped)} partition dropped" if dropped else f"{deleted:,} rows deleted"
            column["retention of the oldest month"] = f"{time.perf_counter() - t0:.2f} s ({what})"
        if layout == "partitioned":
            column["conversion (flask analytics db partition)"] = f"{convert_s:.1f} s"
        # The plain run's retention removed the oldest month; the partitioned run removes the next one.
        oldest = partitions.next_month(oldest)

    print()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"PostgreSQL {engine.dialect.server_version_info}; {args.tenants} tenants x {args.agents} agents x "
          f"{args.days} days x 4 metrics.")
    print()
    print("| figure | plain | partitioned |")
    print("|---|---|---|")
    for key in dict.fromkeys([*results["plain"], *results["partitioned"]]):
        print(f"| {key} | {results['plain'].get(key, '')} | {results['partitioned'].get(key, '')} |")
    engine.dispose()


if __name__ == "__main__":
    main()
