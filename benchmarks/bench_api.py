"""p50 latency of the three JSON endpoints on the demo data, against the bare SQL under them.

Seeds the reference IdP's demo (``idp seed-demo``: 3 tenants, ~25 agents, 120
days) into a scratch SQLite file, or the database in DATABASE_URL, then times
for tenant acme, in the same run:

* the bare ``SELECT ... GROUP BY`` over analytics_daily_aggregates that each
  endpoint's numbers come from (the floor);
* the full HTTP request through the app with the cache emptied first (a miss:
  tenant lookup, checks, service queries, JSON);
* the same request answered from the cache (a hit).

    python benchmarks/bench_api.py [--runs 200]

Needs the plugin and the reference IdP installed (scripts/demo's venv has both).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta

import sqlalchemy as sa

from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.state import get_state
from reference_idp import create_app

BARE = {
    "usage-summary": "SELECT metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to GROUP BY metric_type",
    "agent-activity": "SELECT agent_id, date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to AND agent_id IS NOT NULL GROUP BY agent_id, date, metric_type",
    "token-trends": "SELECT date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to GROUP BY date, metric_type",
}


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="analytics-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/demo.sqlite"
    os.environ["IDP_PLUGINS"] = "analytics"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ANALYTICS_RATELIMIT_ENABLED": False,
                      "ANALYTICS_SCHEDULER_ENABLED": False})
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["idp", "seed-demo"])
    assert seeded.exit_code == 0, seeded.output
    token = runner.invoke(args=["idp", "token", "acme"]).output.strip().splitlines()[-1]

    with app.app_context():
        state = get_state(app)
        engine = state.engine
        with engine.connect() as conn:
            tenant = conn.execute(sa.text("SELECT id FROM tenants WHERE slug = 'acme'")).scalar_one()
            rows = conn.execute(sa.text("SELECT count(*) FROM analytics_daily_aggregates")).scalar_one()
    today = utc_today()
    period = {"t": tenant, "f": today - timedelta(days=30), "to": today}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{engine.dialect.name}; {rows:,} aggregate rows; tenant acme, default period (30 days), "
          f"{args.runs} runs each")
    print(f"{'endpoint':16} {'bare SQL':>10} {'HTTP miss':>18} {'HTTP hit':>18}")
    for endpoint, sql in BARE.items():
        bare, miss, hit = [], [], []
        for _ in range(args.runs):
            with engine.connect() as conn:
                t0 = time.perf_counter()
                conn.execute(sa.text(sql), period).all()
                bare.append(time.perf_counter() - t0)
            with app.app_context():
                state.cache.cache.clear()
            t0 = time.perf_counter()
            response = client.get(f"/analytics/{endpoint}", headers=headers)
            miss.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.get_data(as_text=True)
            t0 = time.perf_counter()
            client.get(f"/analytics/{endpoint}", headers=headers)
            hit.append(time.perf_counter() - t0)
        b = p50(bare)
        m, h = p50(miss), p50(hit)
        print(f"{endpoint:16} {b:8.2f}ms {m:8.2f}ms {m / b:6.1f}x {h:8.2f}ms {h / b:6.1f}x")


if __name__ == "__main__":
    main()
