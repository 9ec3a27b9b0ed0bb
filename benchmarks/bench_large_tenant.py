"""The three service calls for one large tenant, uncached, against the bare SQL under them.

Fills analytics_daily_aggregates directly (generate_series, in PostgreSQL) for
one large tenant (2,000 agents x 180 days x 4 metrics by default, about 1.4 M
rows) beside 200 ordinary tenants, then times in the same run, per endpoint
and for the spec's longest periods (365 days for the summary and the trends,
90 for agent activity): the bare ``SELECT ... GROUP BY`` the numbers come from
(the floor), and the service call with no cache (queries, arranging rows,
freshness), plus the tab's call for the heatmap's busiest 20 agents and the
insights of 90 days (a worst case for their failure-spike rule: every agent has
1 to 500 failures every day, so every day of the period is compared with its
28 days before), and again with call patterns recorded (every agent has failed
calls every day, the same worst case for the failed-call rule). The tenant day
sums are rebuilt from the aggregates, as the nightly job keeps them. Prints p50s
and ratios.

    python benchmarks/bench_large_tenant.py [--agents 2000] [--days 180] [--runs 15]

Needs PostgreSQL (TEST_DATABASE_URL); uses and drops ``analytics_bench_large``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from agentidp_analytics_plugin import rollups
from agentidp_analytics_plugin.schema import Tables
from agentidp_analytics_plugin.service import AnalyticsService
from agentidp_analytics_plugin.state import get_state
from host_app import create_host_app, upgrade_schema
from testenv import fresh_database

DATABASE = "analytics_bench_large"
LAST_DAY = date(2026, 11, 1)

BARE = {
    "usage-summary": "SELECT metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to GROUP BY metric_type",
    "agent-activity": "SELECT agent_id, date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to AND agent_id IS NOT NULL GROUP BY agent_id, date, metric_type",
    "token-trends": "SELECT date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to GROUP BY date, metric_type",
}
BARE["agent-activity (tab, top 20)"] = BARE["agent-activity"]
# Insights read every agent's history up to `to` (last activity, last rotation, first activity).
BARE["insights"] = (
    "SELECT agent_id, max(date), min(date), sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date <= :to AND agent_id IS NOT NULL GROUP BY agent_id"
)
# With call patterns recorded, insights also read the failed calls of every agent-day of the period and the 28 before.
BARE["insights (call patterns)"] = (
    "SELECT agent_id, date, sum(calls) FROM analytics_call_patterns WHERE tenant_id = :t "
    "AND date BETWEEN CAST(:f AS date) - 28 AND :to AND status_class IN ('4xx', '5xx') GROUP BY agent_id, date"
)
PERIOD_DAYS = {
    "usage-summary": 365,
    "agent-activity": 90,
    "agent-activity (tab, top 20)": 90,
    "token-trends": 365,
    "insights": 90,
    "insights (call patterns)": 90,
}


def seed(engine: sa.Engine, tables: Tables, agents: int, days: int) -> uuid.UUID:
    first = LAST_DAY - timedelta(days=days - 1)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 't' || i, 'pro' "
            "FROM generate_series(1, 201) i"))
        big = conn.execute(sa.text("SELECT id FROM tenants WHERE slug = 't1'")).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), :t, 'agent ' || i "
            "FROM generate_series(1, :n) i"), {"t": big, "n": agents})
        conn.execute(sa.text(
            "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
            "FROM tenants t, generate_series(1, 10) i WHERE t.slug <> 't1'"))
        conn.execute(sa.text(
            """
            INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count)
            SELECT a.tenant_id, a.id, d::date, m, 1 + (random() * 500)::int
              FROM agents a,
                   generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
                   unnest(ARRAY['api_calls','token_issuances','token_failures','credential_rotations']) m
            """), {"first": first, "last": LAST_DAY})
        # The large tenant's call patterns: one endpoint, every agent calling it every day with
        # 2xx, 4xx and 5xx answers (the worst case for the failed-call rule, like the failures above).
        conn.execute(sa.text(
            """
            INSERT INTO analytics_call_patterns
                   (tenant_id, agent_id, date, method, route, status_class, calls, latency_ms_sum, updated_at)
            SELECT a.tenant_id, a.id, d::date, 'GET', '/api/v1/agents/me', s, 1 + (random() * 500)::int, 1.0, now()
              FROM agents a,
                   generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d,
                   unnest(ARRAY['2xx','4xx','5xx']) s
             WHERE a.tenant_id = :t
            """), {"first": first, "last": LAST_DAY, "t": big})
        conn.execute(sa.text(
            "INSERT INTO analytics_aggregated_days (date, rows_in, rows_out, duration_ms) "
            "SELECT d::date, 0, 0, 0 FROM generate_series(CAST(:first AS date), CAST(:last AS date), "
            "interval '1 day') d"), {"first": first, "last": LAST_DAY})
        rollups.rebuild(conn, tables)  # the tenant day sums the summary, trends and failure rate read
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return big



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    app = create_host_app(fresh_database(DATABASE))
    upgrade_schema(app)
    with app.app_context():
        state = get_state(app)
        engine = state.engine
        started = time.perf_counter()
        tenant = seed(engine, state.tables, args.agents, args.days)
        with engine.connect() as conn:
            total = conn.execute(sa.text("SELECT count(*) FROM analytics_daily_aggregates")).scalar_one()
            mine = conn.execute(
                sa.text("SELECT count(*) FROM analytics_daily_aggregates WHERE tenant_id = :t"), {"t": tenant}
            ).scalar_one()
        print(f"seeded {total:,} aggregate rows ({mine:,} for the large tenant: {args.agents} agents x "
              f"{args.days} days x 4 metrics) in {time.perf_counter() - started:.1f}s")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"PostgreSQL {engine.dialect.server_version_info}; p50 of {args.runs} runs")
        uncached = AnalyticsService(engine, state.tables, state.metrics, None, state.service.ttl)
        calls = {
            "usage-summary": lambda f, t: uncached.get_usage_summary(tenant, f, t),
            "agent-activity": lambda f, t: uncached.get_agent_activity(tenant, f, t),
            "agent-activity (tab, top 20)": lambda f, t: uncached.get_agent_activity(tenant, f, t, top=20),
            "token-trends": lambda f, t: uncached.get_token_trends(tenant, f, t, "week"),
            "insights": lambda f, t: uncached.get_insights(tenant, f, t),
            "insights (call patterns)": lambda f, t: uncached.get_insights(tenant, f, t, call_patterns=True),
        }
        print(f"{'call':30} {'period':>7} {'bare SQL':>10} {'service (no cache)':>22}")
        for endpoint, sql in BARE.items():
            to = LAST_DAY
            from_ = to - timedelta(days=PERIOD_DAYS[endpoint] - 1)
            bare, service = [], []
            for _ in range(args.runs):
                with engine.connect() as conn:
                    t0 = time.perf_counter()
                    conn.execute(sa.text(sql), {"t": tenant, "f": from_, "to": to}).all()
                    bare.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                calls[endpoint](from_, to)
                service.append(time.perf_counter() - t0)
            b, s = statistics.median(bare) * 1000, statistics.median(service) * 1000
            print(f"{endpoint:30} {PERIOD_DAYS[endpoint]:>5} d {b:8.1f}ms {s:10.1f}ms {s / b:8.2f}x")
        state.db.session.remove()
        engine.dispose()


if __name__ == "__main__":
    main()
