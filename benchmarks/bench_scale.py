"""Read cost against tenant size, cache hits, one night's roll-up and peak memory: one run, one table.

Everything is measured in the same run on the same PostgreSQL, each figure
beside its floor:

1. **Cost growth.** For each size (one tenant with N agents x ``--days`` days,
   each agent active on ~80 % of days with the four metrics, plus tenant-wide
   rows, beside ``--others`` ordinary tenants), every endpoint over its largest
   allowed period, uncached (p50): the bare SQL that fetches the same numbers
   from the raw aggregates, the service (the roll-ups), and the raw-aggregate
   queries the roll-ups replaced ("before", fewer runs).
2. **Cache hit** of the largest answer (agent-activity, every agent, 90 days)
   through the API, from Redis and from the process's own tier, beside a bare
   Flask route of the same app returning the same bytes (the target's
   denominator), the same route reading them from Redis (the floor of a shared
   cache), and the same route after the host's authentication, then also the
   rate limiter, exactly as the API runs them (what a hit costs beyond them is
   the plugin's).
3. **One night's roll-up** of one day of ``--day-events`` usage events
   (``--day-groups`` aggregate rows out) beside the bare ``CREATE TEMP TABLE ...
   AS SELECT ... GROUP BY`` of the same rows and the write floor (the plain
   ``INSERT ... SELECT ... GROUP BY`` into the aggregates table, with its keys
   and indexes, rolled back), and a backfill of ``--backfill-days`` days.
4. **Peak memory** (tracemalloc) of the largest request: agent-activity, every
   agent, 90 days, at the size nearest 1,000 agents.

    python benchmarks/bench_scale.py                # the full table (sizes 10 .. 10,000: takes a while)
    python benchmarks/bench_scale.py --quick        # small data, well under a minute (run by the tests)
    python benchmarks/bench_scale.py --explain      # also EXPLAIN (ANALYZE, BUFFERS) the largest size's reads
    python benchmarks/bench_scale.py --sizes 1000 --sections 2   # only the cache hit (seeds one size, no timings of 1)

Needs PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL); uses and drops
``analytics_bench_scale`` and ``analytics_bench_scale_<agents>`` (``--database`` renames them).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import reference_queries as before
from redis.utils import HIREDIS_AVAILABLE
from services import free_port

from agentidp_analytics_plugin import rollups
from agentidp_analytics_plugin.access import Audience, authorise
from agentidp_analytics_plugin.aggregation import JOB_WORK_MEM
from agentidp_analytics_plugin.caching import REDIS_TIMEOUT
from agentidp_analytics_plugin.redis_urls import redis_client
from agentidp_analytics_plugin.service import AnalyticsService
from agentidp_analytics_plugin.state import get_state
from host_app import HostData, create_host_app, upgrade_schema
from testenv import PG_ADMIN_URL, REDIS_URL, fresh_database

DATABASE = "analytics_bench_scale"
SAME_BYTES_KEY = "analytics-bench:same-bytes"
LAST_DAY = date(2026, 11, 1)
METRICS = "ARRAY['api_calls','token_issuances','token_failures','credential_rotations']"

BARE_SUMMARY = (
    "SELECT metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to GROUP BY metric_type"
)
BARE_TRENDS = (
    "SELECT date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to AND metric_type IN ('token_issuances', 'token_failures') "
    "GROUP BY date, metric_type"
)
BARE_ACTIVITY_GROUPED = (
    "SELECT agent_id, date, metric_type, sum(count) FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to AND agent_id IS NOT NULL GROUP BY agent_id, date, metric_type"
)
#: The target's floor for the full activity answer: the rows themselves, fetched, no GROUP BY.
BARE_ACTIVITY_FETCH = (
    "SELECT agent_id, date, metric_type, count FROM analytics_daily_aggregates "
    "WHERE tenant_id = :t AND date BETWEEN :f AND :to"
)


class Endpoint:
    def __init__(self, name: str, days: int, bare: str, new: Callable[..., Any], old: Callable[..., Any]) -> None:
        self.name, self.days, self.bare, self.new, self.old = name, days, bare, new, old


def endpoints(service: AnalyticsService, tables: Any) -> list[Endpoint]:
    def old(fn: Callable[..., Any], *extra: Any, **kw: Any) -> Callable[..., Any]:
        return lambda t, f, to: service.reads.run(lambda conn: fn(conn, tables, t, f, to, *extra, **kw))

    return [
        Endpoint("usage-summary", 365, BARE_SUMMARY, service.get_usage_summary, old(before.usage_summary)),
        Endpoint(
            "token-trends (day)",
            365,
            BARE_TRENDS,
            lambda t, f, to: service.get_token_trends(t, f, to, "day"),
            old(before.token_trends, "day"),
        ),
        Endpoint(
            "token-trends (week)",
            365,
            BARE_TRENDS,
            lambda t, f, to: service.get_token_trends(t, f, to, "week"),
            old(before.token_trends, "week"),
        ),
        Endpoint(
            "agent-activity, top 20 (tab)",
            90,
            BARE_ACTIVITY_GROUPED,
            lambda t, f, to: service.get_agent_activity(t, f, to, top=20),
            old(before.agent_activity, top=20),
        ),
        Endpoint(
            "agent-activity, every agent",
            90,
            BARE_ACTIVITY_FETCH,
            service.get_agent_activity,
            old(before.agent_activity),
        ),
    ]


def p50_ms(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000


def interleaved_p50_ms(calls: dict[str, Callable[[], Any]], runs: int) -> dict[str, float]:
    """p50 of each call, taking them in turn ``runs`` times: on a shared machine, load drifts alike for all."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(taken) * 1000 for name, taken in samples.items()}


def skip_foreign_key_checks(conn: sa.Connection) -> None:
    """Seed without the foreign-key triggers, for this transaction only.

    The generated rows reference rows generated just before them; checking
    them costs two lookups per row, tens of millions at 10,000 agents.
    """
    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))


def seed_reads(engine: sa.Engine, agents: int, days: int, others: int) -> tuple[uuid.UUID, float]:
    """The large tenant and the others, their aggregates (generate_series) and roll-ups; returns (tenant, seconds)."""
    first = LAST_DAY - timedelta(days=days - 1)
    started = time.perf_counter()
    with engine.begin() as conn:
        skip_foreign_key_checks(conn)
        conn.execute(sa.text("SET LOCAL work_mem = '256MB'"))  # the roll-ups' rebuild sorts every agent-day
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 't' || i, 'pro' "
                "FROM generate_series(0, :n) i"
            ),
            {"n": others},
        )
        big = conn.execute(sa.text("SELECT id FROM tenants WHERE slug = 't0'")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), :t, 'agent ' || i "
                "FROM generate_series(1, :n) i"
            ),
            {"t": big, "n": agents},
        )
        conn.execute(
            sa.text(
                "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
                "FROM tenants t, generate_series(1, 10) i WHERE t.slug <> 't0'"
            )
        )
        conn.execute(
            sa.text(
                f"""
                INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count)
                SELECT a.tenant_id, a.id, d.day, m, 1 + (random() * 500)::int
                  FROM agents a,
                       (SELECT CAST(g AS date) AS day
                          FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') g) d,
                       unnest({METRICS}) m
                 WHERE hashtext(a.id::text || d.day::text) % 10 < 8
                UNION ALL
                SELECT t.id, NULL, CAST(g AS date), 'api_calls', 1 + (random() * 50)::int
                  FROM tenants t, generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') g
                """
            ),
            {"first": first, "last": LAST_DAY},
        )
        conn.execute(
            sa.text(
                "INSERT INTO analytics_aggregated_days (date, rows_in, rows_out, duration_ms) "
                "SELECT CAST(g AS date), 0, 0, 0 FROM generate_series(CAST(:first AS date), CAST(:last AS date), "
                "interval '1 day') g"
            ),
            {"first": first, "last": LAST_DAY},
        )
        conn.execute(sa.text("UPDATE analytics_job_state SET first_event_day = :first"), {"first": first})
        rollups.rebuild(conn, get_state().tables)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    return big, time.perf_counter() - started


def explain(engine: sa.Engine, call: Callable[[], Any]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement ``call`` runs."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            print("    " + statement.splitlines()[0][:110])
            for line in plan:
                if any(k in line for k in ("Scan", "Execution Time", "Buffers", "Aggregate", "Join", "Sort ")):
                    print("      " + line.strip()[:130])


def cost_growth(
    sizes: list[int], probe: int, largest: int, args: argparse.Namespace, heading: str = ""
) -> dict[str, Any]:
    """Section 1 for ``sizes``; returns the app of size ``probe`` (if among them) for sections 2 and 4.

    Without section 1 among ``--sections``, only seeds: no timings, no rows.
    """
    if "1" in args.sections:
        print(f"\n## 1. Cost growth{heading}: p50 of {args.runs} uncached calls ('before': {args.old_runs} runs)\n")
        print("| agents | rows (tenant) | seed s | endpoint | period | bare SQL ms | service ms | x bare | before ms |")
        print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    kept: dict[str, Any] = {}
    for size in sizes:
        one_size(size, args, kept if size == probe else None, explaining=args.explain and size == largest)
    return kept


def probe_size(sizes: list[int]) -> int:
    """The size that sections 2 and 4 measure: the one nearest 1,000 agents."""
    return min(sizes, key=lambda n: abs(n - 1000))


def host_app(url: str) -> tuple[Flask, list[bytes]]:
    """The host every section reads through, with the floors of a cache hit as routes of its own.

    Returns the app and the one-element list whose bytes the floor routes
    return (section 2 puts the API's answer there). The limiter is off for
    the API's rows of section 2 (as they were first measured) and switched
    on for its last two; its limit is never reached, its counts are kept
    where the cache is.
    """
    app = create_host_app(
        url,
        ANALYTICS_CACHE_REDIS_URL=REDIS_URL,
        ANALYTICS_RATELIMIT_ENABLED=False,
        ANALYTICS_RATELIMIT="1000000 per minute",
        ANALYTICS_RATELIMIT_STORAGE_URI=REDIS_URL,
    )
    same_bytes: list[bytes] = [b""]
    # The floor of a cache hit: a route of the same app returning the same bytes (registered before
    # the app serves its first request, as Flask requires).
    app.add_url_rule(
        "/bench/same-bytes",
        "bench_same_bytes",
        lambda: app.response_class(same_bytes[0], mimetype="application/json"),
    )
    # The floor of any hit from a shared cache: the same bytes read from the same Redis, one GET.
    redis = redis_client(REDIS_URL, socket_timeout=REDIS_TIMEOUT)
    app.add_url_rule(
        "/bench/same-bytes-from-redis",
        "bench_same_bytes_from_redis",
        lambda: app.response_class(redis.get(SAME_BYTES_KEY), mimetype="application/json"),
    )

    def same_bytes_after_authentication() -> Any:
        # The API's own access pipeline: the host's token resolver, the tier, the limiter (when on).
        authorise(Audience.API)
        return app.response_class(same_bytes[0], mimetype="application/json")

    app.add_url_rule(
        "/bench/same-bytes-authenticated", "bench_same_bytes_authenticated", same_bytes_after_authentication
    )
    return app, same_bytes


def one_size(size: int, args: argparse.Namespace, kept: dict[str, Any] | None, explaining: bool) -> None:
    """Seed one size and print its rows of the table; ``kept`` receives the app to measure further.

    Each size has its own database, so the kept one outlives the sizes after it.
    """
    database = f"{DATABASE}_{size}"
    url = fresh_database(database)
    app, same_bytes = host_app(url)
    upgrade_schema(app)
    ctx = app.app_context()
    ctx.push()
    state = get_state(app)
    engine = state.engine
    tenant, seeded = seed_reads(engine, size, args.days, args.others)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT count(*) FROM analytics_daily_aggregates WHERE tenant_id = :t"), {"t": tenant}
        ).scalar_one()
    uncached = AnalyticsService(engine, state.tables, state.metrics, None, state.service.ttl)
    to = LAST_DAY
    for i, ep in enumerate(endpoints(uncached, state.tables) if "1" in args.sections else []):
        from_ = to - timedelta(days=min(ep.days, args.days) - 1)

        def bare(ep: Endpoint = ep, from_: date = from_) -> None:
            with engine.connect() as conn:
                conn.execute(sa.text(ep.bare), {"t": tenant, "f": from_, "to": to}).all()

        b = p50_ms(bare, args.runs)
        s = p50_ms(lambda ep=ep, from_=from_: ep.new(tenant, from_, to), args.runs)
        o = p50_ms(lambda ep=ep, from_=from_: ep.old(tenant, from_, to), args.old_runs)
        lead = f"| {size:,} | {rows:,} | {seeded:.0f} |" if i == 0 else "| | | |"
        print(f"{lead} {ep.name} | {min(ep.days, args.days)} d | {b:.1f} | {s:.1f} | {s / b:.2f} | {o:.1f} |")
    if explaining and "1" in args.sections:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) at {size:,} agents:")
        for ep in endpoints(uncached, state.tables):
            from_ = to - timedelta(days=min(ep.days, args.days) - 1)
            print(f"  {ep.name}")
            explain(engine, lambda ep=ep, from_=from_: ep.new(tenant, from_, to))
    if kept is not None:
        kept.update(app=app, ctx=ctx, tenant=tenant, size=size, service=uncached, same_bytes=same_bytes)
    else:
        state.db.session.remove()
        engine.dispose()
        ctx.pop()
        drop_database(database)


def drop_database(name: str) -> None:
    """Drop a scratch database once measured (the largest sizes take gigabytes)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def cache_hit(kept: dict[str, Any], args: argparse.Namespace) -> None:
    app, tenant = kept["app"], kept["tenant"]
    state = get_state(app)
    token = HostData(app).token(tenant)
    to = LAST_DAY
    from_ = to - timedelta(days=min(90, args.days) - 1)
    query = {"from": from_.isoformat(), "to": to.isoformat()}
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    first = client.get("/analytics/agent-activity", query_string=query, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    body = first.get_data()
    kept["same_bytes"][0] = body
    redis_client(REDIS_URL).set(SAME_BYTES_KEY, body, ex=3600)

    local = state.cache.local
    assert local is not None and len(local) == 1, "the first request's answer is in the process's tier"

    def request(path: str, *, from_redis: bool = False, limiter: bool = False, **kw: Any) -> Callable[[], Any]:
        def run() -> None:
            if from_redis:
                local.clear()  # as the first hit of this answer in this process: read from Redis, kept locally
            state.limiter.enabled = limiter
            client.get(path, **kw)

        return run

    api = "/analytics/agent-activity"
    authenticated = "/bench/same-bytes-authenticated"
    timed = interleaved_p50_ms(
        {
            "bare": request("/bench/same-bytes"),
            "floor": request("/bench/same-bytes-from-redis"),
            "hit": request(api, from_redis=True, query_string=query, headers=headers),
            "authenticated": request(authenticated, headers=headers),
            "near": request(api, query_string=query, headers=headers),
            "limited": request(authenticated, limiter=True, headers=headers),
            "near_limited": request(api, limiter=True, query_string=query, headers=headers),
        },
        args.runs,
    )
    state.limiter.enabled = False
    bare, floor, hit, authenticated_ms, near, limited, near_limited = timed.values()
    parser = "hiredis" if HIREDIS_AVAILABLE else "pure-Python"
    size = f"{len(body):,}"
    print(f"\n## 2. Cache hit: agent-activity, every agent, {min(90, args.days)} d, {kept['size']:,} agents\n")
    print(
        f"Redis replies parsed by redis-py's {parser} parser. p50 of {args.runs} requests each, the rows taken in "
        "turn (one request of each, repeated), so a change of load reaches every row alike. The API's rows "
        "run the host's token resolver (one SQL lookup); 'auth route' is a bare route running the API's access "
        "pipeline (host resolver, tier check, limiter) before returning the same bytes.\n"
    )
    print("| response | bytes | p50 ms | x bare route | x Redis floor | x auth route (same limiter setting) |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| bare Flask route, same bytes from memory | {size} | {bare:.2f} | 1.00 | | |")
    print(f"| bare Flask route, same bytes from Redis (one GET) | {size} | {floor:.2f} | {floor / bare:.2f} | 1.00 | |")
    print(f"| API, cache hit (Redis) | {size} | {hit:.2f} | {hit / bare:.2f} | {hit / floor:.2f} | |")
    print(
        f"| auth route: bare route after the host's authentication (limiter off, as in the API rows) | {size} "
        f"| {authenticated_ms:.2f} | {authenticated_ms / bare:.2f} | | 1.00 |"
    )
    print(
        f"| API, cache hit (in-process tier) | {size} | {near:.2f} | {near / bare:.2f} | {near / floor:.2f} "
        f"| {near / authenticated_ms:.2f} |"
    )
    print(
        f"| auth route, rate limiter on (counts in Redis) | {size} | {limited:.2f} | {limited / bare:.2f} | "
        f"| {limited / authenticated_ms:.2f} |"
    )
    print(
        f"| API, cache hit (in-process tier), rate limiter on | {size} | {near_limited:.2f} "
        f"| {near_limited / bare:.2f} | {near_limited / floor:.2f} | {near_limited / limited:.2f} |"
    )
    cache_hit_over_http(kept, args, query, headers, len(body))


def cache_hit_over_http(
    kept: dict[str, Any], args: argparse.Namespace, query: dict[str, str], headers: dict[str, str], size: int
) -> None:
    """Section 2 again as a client sees it: the same host under gunicorn, every byte read over loopback.

    One sync worker, as the issue's first measurement of a hit had it; a new
    connection per request (a sync worker closes each). The API's rows are
    hits of the worker's own tier (it read the answer from Redis at the
    warm-up); the floors are the same routes as in-process.
    """
    url = kept["app"].config["SQLALCHEMY_DATABASE_URI"]
    api = "/analytics/agent-activity?" + urllib.parse.urlencode(query)
    with served(url) as port:
        calls = {
            "bare": http_getter(port, "/bench/same-bytes", {}, size),
            "floor": http_getter(port, "/bench/same-bytes-from-redis", {}, size),
            "authenticated": http_getter(port, "/bench/same-bytes-authenticated", headers, size),
            "near": http_getter(port, api, headers, size),
        }
        for call in calls.values():  # warm-up: imports, connections, the worker's tier
            call()
        timed = interleaved_p50_ms(calls, args.runs)
    bare, floor, authenticated_ms, near = timed.values()
    print("\n### 2b. The same over HTTP: gunicorn, one sync worker, loopback, the client reads every byte\n")
    print("| response | bytes | p50 ms | x bare route | x Redis floor | x auth route |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| bare Flask route, same bytes from memory | {size:,} | {bare:.2f} | 1.00 | | |")
    print(
        f"| bare Flask route, same bytes from Redis (one GET) | {size:,} | {floor:.2f} | {floor / bare:.2f} | 1.00 | |"
    )
    print(f"| auth route (limiter off) | {size:,} | {authenticated_ms:.2f} | {authenticated_ms / bare:.2f} | | 1.00 |")
    print(
        f"| API, cache hit (the worker's tier) | {size:,} | {near:.2f} | {near / bare:.2f} | {near / floor:.2f} "
        f"| {near / authenticated_ms:.2f} |"
    )


@contextlib.contextmanager
def served(database_url: str) -> Iterator[int]:
    """gunicorn serving :mod:`scale_http_host` (the same host, on ``database_url``) on a free loopback port."""
    port = free_port()
    here = Path(__file__).resolve().parent
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    env = {
        **os.environ,
        "BENCH_SCALE_DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(here), str(here.parent / "tests"), os.environ.get("PYTHONPATH")])
        ),
    }
    process = subprocess.Popen(
        [gunicorn, "--workers", "1", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "scale_http_host:app"],
        env=env,
        cwd=here,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                http_getter(port, "/bench/same-bytes", {}, None)()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not come up") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def http_getter(port: int, path: str, headers: dict[str, str], size: int | None) -> Callable[[], None]:
    """One GET over a new connection, every byte of the answer read (and counted, when ``size`` is given)."""

    def get() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 200, (path, response.status, body[:200])
        assert size is None or len(body) == size, (path, len(body), size)

    return get


def peak_memory(kept: dict[str, Any], args: argparse.Namespace) -> None:
    service, tenant = kept["service"], kept["tenant"]
    to = LAST_DAY
    from_ = to - timedelta(days=min(90, args.days) - 1)
    service.get_agent_activity(tenant, from_, to)  # warm: imports, compiled statements, pool
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    answer = service.get_agent_activity(tenant, from_, to)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    days = sum(len(a["dailyActivity"]) for a in answer["agents"])
    print(f"\n## 4. Peak memory: agent-activity, every agent, {min(90, args.days)} d, {kept['size']:,} agents\n")
    print(
        f"peak Python allocation growth during the call (tracemalloc): {peak / 2**20:.1f} MB "
        f"for {len(answer['agents']):,} agents, {days:,} agent-days"
    )


def vacuum_aggregates(engine: sa.Engine) -> None:
    """Clear the dead index entries a rolled-back write leaves, so each timed statement starts clean."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("VACUUM ANALYZE analytics_daily_aggregates"))


def seed_day(engine: sa.Engine, tenants: int, agents: int, per_group: int, day: date) -> int:
    """One day of usage: tenants x agents x 4 metrics groups, ``per_group`` events each; the day before aggregated."""
    with engine.begin() as conn:
        skip_foreign_key_checks(conn)
        conn.execute(
            sa.text(
                "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 'd' || i, 'pro' "
                "FROM generate_series(1, :n) i"
            ),
            {"n": tenants},
        )
        conn.execute(
            sa.text(
                "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
                "FROM tenants t, generate_series(1, :n) i"
            ),
            {"n": agents},
        )
        conn.execute(
            sa.text(
                f"""
                INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
                SELECT a.tenant_id, a.id, CAST(:day AS date), m, 1 + (random() * 9)::int
                  FROM agents a, unnest({METRICS}) m, generate_series(1, :k) k
                """
            ),
            {"day": day, "k": per_group},
        )
        # Yesterday is aggregated: every agent's previous active day is one probe away.
        conn.execute(
            sa.text(
                f"""
                INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count)
                SELECT a.tenant_id, a.id, CAST(:day AS date) - 1, m, 1 FROM agents a, unnest({METRICS}) m
                """
            ),
            {"day": day},
        )
        rollups.rebuild(conn, get_state().tables)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
        return conn.execute(sa.text("SELECT count(*) FROM usage_events WHERE date = :d"), {"d": day}).scalar_one()


def nightly(args: argparse.Namespace) -> None:
    url = fresh_database(DATABASE)
    app = create_host_app(url)
    upgrade_schema(app)
    with app.app_context():
        state = get_state(app)
        engine = state.engine
        day = LAST_DAY
        groups = args.day_groups
        agents = max(1, groups // 4 // args.day_tenants)
        started = time.perf_counter()
        events = seed_day(engine, args.day_tenants, agents, max(1, args.day_events // groups), day)
        seeded = time.perf_counter() - started
        group_by = (
            "SELECT tenant_id, agent_id, date, metric_type, sum(count) AS count FROM usage_events WHERE date = :d "
            "GROUP BY tenant_id, agent_id, date, metric_type"
        )
        bare, floor = [], []
        # The floors get the job's memory for grouping and sorting, as the job gives itself.
        work_mem = sa.text(f"SET LOCAL work_mem = '{JOB_WORK_MEM}'")
        for _ in range(3):
            with engine.begin() as conn:
                conn.execute(work_mem)
                t0 = time.perf_counter()
                conn.execute(sa.text(f"CREATE TEMP TABLE bench_day ON COMMIT DROP AS {group_by}"), {"d": day})
                bare.append(time.perf_counter() - t0)
            vacuum_aggregates(engine)  # each floor on a clean table, as the job below
            with engine.connect() as conn:
                conn.begin()
                conn.execute(work_mem)
                t0 = time.perf_counter()
                conn.execute(
                    sa.text(
                        "INSERT INTO analytics_daily_aggregates (tenant_id, agent_id, date, metric_type, count) "
                        + group_by
                    ),
                    {"d": day},
                )
                floor.append(time.perf_counter() - t0)
                conn.rollback()
        # A rolled-back floor leaves the day's rows as dead index entries that the next statement
        # would step over; a night's job meets a vacuumed table.
        vacuum_aggregates(engine)
        report = state.aggregate(days=[day], today=day + timedelta(days=1))
        assert report.ok, report.failed
        first = report.seconds
        reruns = []
        for _ in range(3):
            report = state.aggregate(days=[day], today=day + timedelta(days=1))
            assert report.ok and report.changed == 0, report
            reruns.append(report.seconds)
        b, f, r = statistics.median(bare), statistics.median(floor), statistics.median(reruns)
        print(
            f"\n## 3. One night's roll-up: {events:,} usage events -> {report.rows_out:,} aggregate rows "
            f"({args.day_tenants:,} tenants x {agents:,} agents x 4 metrics; seeded in {seeded:.0f} s)\n"
        )
        print("| step | ms | x bare GROUP BY | x write floor |")
        print("|---|---:|---:|---:|")
        print(f"| bare CREATE TEMP TABLE AS SELECT ... GROUP BY | {b * 1000:.0f} | 1.00 | |")
        print(
            f"| write floor: INSERT INTO aggregates SELECT ... GROUP BY (rolled back) | {f * 1000:.0f} "
            f"| {f / b:.2f} | 1.00 |"
        )
        print(
            f"| job, first run of the day (aggregates + roll-ups + ledger) | {first * 1000:.0f} | {first / b:.2f} "
            f"| {first / f:.2f} |"
        )
        print(f"| job, re-run (nothing changed) | {r * 1000:.0f} | {r / b:.2f} | {r / f:.2f} |")
        state.db.session.remove()
        engine.dispose()
    backfill(args)


def backfill(args: argparse.Namespace) -> None:
    url = fresh_database(DATABASE)
    app = create_host_app(url)
    upgrade_schema(app)
    with app.app_context():
        state = get_state(app)
        engine = state.engine
        first = LAST_DAY - timedelta(days=args.backfill_days - 1)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO tenants (id, slug, tier) SELECT gen_random_uuid(), 'b' || i, 'pro' "
                    "FROM generate_series(1, :n) i"
                ),
                {"n": args.backfill_tenants},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO agents (id, tenant_id, name) SELECT gen_random_uuid(), t.id, 'agent ' || i "
                    "FROM tenants t, generate_series(1, 10) i"
                )
            )
            conn.execute(
                sa.text(
                    f"""
                INSERT INTO usage_events (tenant_id, agent_id, date, metric_type, count)
                SELECT a.tenant_id, a.id, CAST(g AS date), m, 1 + (random() * 9)::int
                  FROM agents a, unnest({METRICS}) m,
                       generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') g
                 WHERE hashtext(a.id::text || g::text) % 10 < 8
                """
                ),
                {"first": first, "last": LAST_DAY},
            )
            events = conn.execute(sa.text("SELECT count(*) FROM usage_events")).scalar_one()
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
        days = [first + timedelta(days=i) for i in range(args.backfill_days)]
        report = state.aggregate(days=days, today=LAST_DAY + timedelta(days=1))
        assert report.ok, report.failed
        print(
            f"\nBackfill of {args.backfill_days} days ({events:,} events, {args.backfill_tenants} tenants x 10 "
            f"agents, ~80 % active days): {report.seconds:.1f} s, {report.rows_out:,} aggregate rows, "
            f"{report.seconds / args.backfill_days * 1000:.0f} ms a day"
        )
        state.db.session.remove()
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    global DATABASE  # --database names the scratch database every section uses
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, well under a minute")
    parser.add_argument("--sizes", default="10,100,1000,10000", help="agents of the large tenant, comma-separated")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--others", type=int, default=200, help="ordinary tenants beside the large one")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--old-runs", type=int, default=3)
    parser.add_argument("--day-events", type=int, default=5_000_000)
    parser.add_argument("--day-groups", type=int, default=500_000)
    parser.add_argument("--day-tenants", type=int, default=1_250)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--backfill-tenants", type=int, default=100)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--database", default=DATABASE, help="the scratch database (dropped and recreated)")
    parser.add_argument(
        "--sections",
        default="1,2,3,4",
        help="which sections to run, comma-separated (2 and 4 still seed the size nearest 1,000 agents)",
    )
    args = parser.parse_args(argv)
    args.sections = {part.strip() for part in args.sections.split(",")}
    DATABASE = args.database
    if args.quick:
        args.sizes, args.days, args.others, args.runs, args.old_runs = "10,40", 60, 5, 3, 1
        args.day_events, args.day_groups, args.day_tenants = 20_000, 2_000, 10
        args.backfill_days, args.backfill_tenants = 10, 3
    sizes = [int(s) for s in args.sizes.split(",")]

    engine = sa.create_engine(fresh_database(DATABASE))
    with engine.connect() as conn:
        server = conn.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    print("# Analytics at scale" + (" (quick mode: small data, the harness only)" if args.quick else ""))
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {server}; {args.days} days of data"
    )
    # Sizes above the probe's come last, after every other section: on a small machine the
    # largest tenant takes the longest to seed, and the other sections need not wait for it.
    probe = probe_size(sizes)
    if args.sections & {"1", "2", "4"}:
        # Without section 1 only the probe's size is seeded (for 2 and 4), and nothing is timed.
        smaller = [n for n in sizes if n <= probe] if "1" in args.sections else [probe]
        kept = cost_growth(smaller, probe, max(sizes), args)
        if "2" in args.sections:
            cache_hit(kept, args)
        if "4" in args.sections:
            peak_memory(kept, args)
        kept_state = get_state(kept["app"])
        kept_state.db.session.remove()
        kept_state.engine.dispose()
        kept["ctx"].pop()
        drop_database(f"{DATABASE}_{kept['size']}")
    if "3" in args.sections:
        nightly(args)
    larger = [n for n in sizes if n > probe]
    if larger and "1" in args.sections:
        cost_growth(larger, probe, max(sizes), args, heading=" (continued: the larger sizes, measured last)")


if __name__ == "__main__":
    main()
