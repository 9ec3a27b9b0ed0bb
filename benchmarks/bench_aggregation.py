"""How the nightly roll-up of one day compares with the bare GROUP BY it is built on.

Seeds a large synthetic host in PostgreSQL (generate_series, in the database),
then times, per day and in the same run: the bare ``SELECT ... GROUP BY`` over
that day's usage_events (the read floor), a plain ``INSERT ... SELECT ... GROUP
BY`` into the aggregates table (the write floor: the spec's foreign keys and
indexes cost the same for any roll-up), and the full roll-up transaction
(upsert, stale-group delete, ledger), first run and idempotent re-run. Prints
medians and ratios to the read floor.

    python benchmarks/bench_aggregation.py [--tenants 500] [--agents 20] [--days 14]

Needs PostgreSQL (TEST_DATABASE_URL, default the local trust-auth server);
uses and drops its own database ``analytics_bench``.
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
from agentidp_analytics_plugin.state import get_state
from host_app import create_host_app, upgrade_schema
from testenv import fresh_database

DATABASE = "analytics_bench"
LAST_DAY = date(2026, 11, 1)


def seed(engine: sa.Engine, tenants: int, agents: int, days: int) -> int:
    """Every agent has every metric every day, plus tenant-wide rows: the worst case per day."""
    first = LAST_DAY - timedelta(days=days - 1)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 't' || i, 'pro' "
            "FROM generate_series(1, :n) i"), {"n": tenants})
        conn.execute(sa.text(
            "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
            "FROM tenants t, generate_series(1, :n) i"), {"n": agents})
        conn.execute(sa.text(
            """
            INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
            SELECT a.tenant_id, a.id, d::date, m, 1 + (random() * 500)::int
              FROM agents a,
                   generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
                   unnest(ARRAY['api_calls','token_issuances','token_failures','credential_rotations']) m
            UNION ALL
            SELECT t.id, NULL, d::date, 'api_calls', 1 + (random() * 50)::int
              FROM tenants t, generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d
            """), {"first": first, "last": LAST_DAY})
        conn.execute(sa.text("ANALYZE usage_events"))
        return conn.execute(sa.text("SELECT count(*) FROM usage_events")).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()

    url = fresh_database(DATABASE)
    app = create_host_app(url)
    upgrade_schema(app)
    with app.app_context():
        state = get_state(app)
        engine = state.engine
        started = time.perf_counter()
        rows = seed(engine, args.tenants, args.agents, args.days)
        print(f"seeded {rows:,} usage_events rows in {time.perf_counter() - started:.1f}s "
              f"({args.tenants} tenants x {args.agents} agents x {args.days} days x 4 metrics + tenant-wide)")
        days = [LAST_DAY - timedelta(days=i) for i in range(args.days)]

        baseline, plain_insert, first, rerun = [], [], [], []
        bare = sa.text(
            "SELECT count(*) FROM (SELECT tenant_id, agent_id, date, metric_type, sum(count) "
            "FROM usage_events WHERE date = :d GROUP BY tenant_id, agent_id, date, metric_type) s"
        )
        plain = sa.text(
            "INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count) "
            "SELECT tenant_id, agent_id, date, metric_type, sum(count) FROM usage_events WHERE date = :d "
            "GROUP BY tenant_id, agent_id, date, metric_type"
        )
        for day in days:
            with engine.connect() as conn:
                t0 = time.perf_counter()
                conn.execute(bare, {"d": day}).scalar_one()
                baseline.append(time.perf_counter() - t0)
            with engine.begin() as conn:  # the write floor: same rows, same table, no conflict handling
                t0 = time.perf_counter()
                conn.execute(plain, {"d": day})
                plain_insert.append(time.perf_counter() - t0)
                conn.execute(sa.text("DELETE FROM analytics_daily_aggregates WHERE date = :d"), {"d": day})
            report = state.aggregate(days=[day], today=LAST_DAY + timedelta(days=1))
            assert report.ok, report.failed
            first.append(report.seconds)
            report = state.aggregate(days=[day], today=LAST_DAY + timedelta(days=1))
            assert report.ok and report.changed == 0
            rerun.append(report.seconds)

        per_day = rows / args.days
        b, p = statistics.median(baseline), statistics.median(plain_insert)
        f, r = statistics.median(first), statistics.median(rerun)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"PostgreSQL {engine.dialect.server_version_info}")
        print(f"per day: {per_day:,.0f} source rows -> {report.rows_out:,} aggregate rows; "
              f"medians over {len(days)} days")
        print(f"  bare GROUP BY (baseline)   {b * 1000:8.1f} ms   1.00x")
        print(f"  plain INSERT ... SELECT    {p * 1000:8.1f} ms   {p / b:5.2f}x   (write floor: FK checks, indexes)")
        print(f"  roll-up, first run         {f * 1000:8.1f} ms   {f / b:5.2f}x   ({f / p:.2f}x the write floor)")
        print(f"  roll-up, re-run (no-op)    {r * 1000:8.1f} ms   {r / b:5.2f}x")
        print(f"  throughput, first run      {per_day / f:,.0f} source rows/s")
        state.db.session.remove()
        engine.dispose()


if __name__ == "__main__":
    main()
