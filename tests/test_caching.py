"""Response caching: spec keys and TTLs, no SQL on a hit, tenant isolation, Redis outages."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import socket
import subprocess
import time

import pytest
import redis
import sqlalchemy as sa

from agentidp_analytics_plugin.caching import GENERATION_KEY, GENERATION_MIRROR_TTL, cache_key
from agentidp_analytics_plugin.state import get_state
from api_fixtures import Api, count_statements, days_ago
from testenv import BACKENDS

ENDPOINTS = ["usage-summary", "agent-activity", "token-trends"]

#: The tables answers are read from (the aggregates, their roll-ups, the call counts).
DATA_TABLES = (
    "analytics_daily_aggregates",
    "analytics_tenant_daily",
    "analytics_agent_weekly",
    "analytics_active_agents",
    "analytics_call_patterns",
)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_second_identical_request_runs_no_sql(api, api_app, seed, endpoint):
    s = seed([("alpha", 1, "api_calls", 3), ("alpha", 1, "token_issuances", 1)])
    first = api.ok(endpoint, s.token)
    with count_statements(api_app) as counter:
        second = api.ok(endpoint, s.token)
    assert counter.analytics == []
    assert second == first


@pytest.mark.parametrize(("endpoint", "ttl"), [("usage-summary", 60), ("agent-activity", 300), ("token-trends", 300)])
def test_entries_use_the_spec_key_and_ttl(api, seed, redis_client, endpoint, ttl):
    s = seed([])
    api.ok(endpoint, s.token)
    keys = [k.decode() for k in redis_client.keys(f"analytics:{s.tenant}:{endpoint}:*")]
    assert len(keys) == 1
    assert ttl - 5 <= redis_client.ttl(keys[0]) <= ttl


def test_entries_in_redis_are_the_answer_as_json(api, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    body = api.ok("usage-summary", s.token)
    [key] = redis_client.keys(f"analytics:{s.tenant}:usage-summary:*")
    assert json.loads(redis_client.get(key))["answer"] == body


def test_entries_hold_the_etag_and_freshness_beside_the_answer(api, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    response = api.client.get("/analytics/usage-summary", headers={"Authorization": f"Bearer {s.token}"})
    [key] = redis_client.keys(f"analytics:{s.tenant}:usage-summary:*")
    entry = json.loads(redis_client.get(key))
    assert (f'"{entry["etag"]}-json"', entry["dataCompleteThrough"]) == (
        response.headers["ETag"],
        response.headers["X-Analytics-Data-Complete-Through"],
    )


def test_an_entry_in_an_older_format_is_a_miss_and_overwritten(api, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    [key] = redis_client.keys(f"analytics:{s.tenant}:usage-summary:*")
    redis_client.set(key, json.dumps({"summary": {"totalApiCalls": 999}}), ex=60)  # the bare answer, no etag
    _read_from_redis_next(api)
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3
    assert json.loads(redis_client.get(key))["answer"]["summary"]["totalApiCalls"] == 3


def _read_from_redis_next(api):
    """Forget the answers this process keeps in front of Redis, as a process that never served them."""
    get_state(api.app).cache.local.clear()


class _Payload:
    """What an attacker with write access to Redis would plant: a pickle that runs code when loaded."""

    def __reduce__(self):
        return (exec, ("import builtins; builtins.analytics_cache_pwned = True",))


def test_a_pickle_planted_in_redis_is_a_miss_and_never_loaded(api, seed, redis_client):
    import builtins

    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    [key] = redis_client.keys(f"analytics:{s.tenant}:usage-summary:*")
    # cachelib's pickle format: "!" + pickle.
    redis_client.set(key, b"!" + pickle.dumps({"planted": _Payload()}), ex=60)
    _read_from_redis_next(api)
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3
    assert not hasattr(builtins, "analytics_cache_pwned")
    assert json.loads(redis_client.get(key))["answer"]["summary"]["totalApiCalls"] == 3  # overwritten with JSON


def test_equivalent_queries_share_one_entry(api, seed, redis_client):
    s = seed([])
    api.ok("token-trends", s.token)
    api.ok("token-trends", s.token, from_=days_ago(30).isoformat(), to=days_ago(0).isoformat(), granularity="day")
    assert len(redis_client.keys(f"analytics:{s.tenant}:token-trends:*")) == 1


def test_cache_key_hashes_the_normalised_parameters():
    a = cache_key("t", "token-trends", {"from": "2026-01-01", "to": "2026-01-31", "granularity": "day"})
    b = cache_key("t", "token-trends", {"granularity": "day", "to": "2026-01-31", "from": "2026-01-01"})
    c = cache_key("t", "token-trends", {"from": "2026-01-01", "to": "2026-01-31", "granularity": "week"})
    assert a == b != c
    assert a.startswith("analytics:t:token-trends:")


def test_tenants_never_share_cache_entries(api, seed, redis_client):
    a = seed([("alpha", 1, "api_calls", 1)])
    b = seed([("beta", 1, "api_calls", 500)])
    assert api.ok("usage-summary", a.token)["summary"]["totalApiCalls"] == 1
    assert api.ok("usage-summary", b.token)["summary"]["totalApiCalls"] == 500
    assert len(redis_client.keys(f"analytics:{a.tenant}:*")) == 1
    assert len(redis_client.keys(f"analytics:{b.tenant}:*")) == 1


def test_the_default_cache_is_in_process(make_app, seed):
    from flask_caching.backends import SimpleCache

    app = make_app()
    assert isinstance(get_state(app).cache.cache.cache, SimpleCache)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="needs the redis-server binary to start and stop a Redis of its own (CI always runs it)",
)
def test_redis_outage_is_served_from_the_database_and_caching_resumes(make_app, tmp_path, caplog):
    """A real Redis on a port nobody listens on yet; then it starts, then it stops."""
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = make_app(ANALYTICS_CACHE_REDIS_URL=url, ANALYTICS_CACHE_RETRY_SECONDS=0)
    from host_app import HostData

    host = HostData(app)
    tenant = host.tenant()
    token = host.token(tenant)
    agent = host.agent(tenant)
    host.events([(tenant, agent, days_ago(1), "api_calls", 7)])
    api = Api(app)
    api.aggregate([days_ago(1)])
    # Alembic's fileConfig in the test host disables existing loggers and replaces root handlers.
    logger = logging.getLogger("agentidp_analytics_plugin.caching")
    logger.disabled = False
    logger.addHandler(caplog.handler)
    state = get_state(app)
    errors = state.metrics.cache_errors.labels(endpoint="usage-summary")

    assert api.ok("usage-summary", token)["summary"]["totalApiCalls"] == 7
    assert errors._value.get() >= 1
    logger.removeHandler(caplog.handler)
    assert "Analytics cache read failed" in caplog.text

    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        api.ok("usage-summary", token)
        assert client.keys(f"analytics:{tenant}:usage-summary:*")
        with count_statements(app) as counter:
            assert api.ok("usage-summary", token)["summary"]["totalApiCalls"] == 7
        assert counter.analytics == []
    finally:
        server.terminate()
        server.wait(timeout=10)
    failures = errors._value.get()
    assert api.ok("usage-summary", token)["summary"]["totalApiCalls"] == 7
    assert errors._value.get() > failures


def test_after_a_failure_the_cache_is_skipped_for_the_retry_interval(make_app):
    app = make_app(ANALYTICS_CACHE_REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0", ANALYTICS_CACHE_RETRY_SECONDS=60)
    cache = get_state(app).cache
    assert cache.get("analytics:x:usage-summary:y", "usage-summary") is None
    assert not cache.available
    started = time.perf_counter()
    assert cache.get("analytics:x:usage-summary:y", "usage-summary") is None
    cache.set("analytics:x:usage-summary:y", {"a": 1}, 60, "usage-summary")
    assert time.perf_counter() - started < 0.05
    assert cache.metrics.cache_errors.labels(endpoint="usage-summary")._value.get() == 1


# --- no stale answers after a re-aggregation ----------------------------------------------------


def _late_event_on(api_host, s, day, count=1000):
    api_host.events([(s.tenant, s.agents["alpha"], day, "api_calls", count)])


def test_a_backfill_with_the_command_shows_in_the_next_answer(api, api_app, api_host, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3
    _late_event_on(api_host, s, days_ago(1))
    result = api_app.test_cli_runner().invoke(args=["analytics", "aggregate", "--date", days_ago(1).isoformat()])
    assert result.exit_code == 0, result.output
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 1003


def test_the_nightly_run_that_changes_an_aggregate_ends_every_cached_answer(api, api_app, api_host, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    for endpoint in ENDPOINTS:
        api.ok(endpoint, s.token)
    _late_event_on(api_host, s, days_ago(1), 5)
    with api_app.app_context():
        assert get_state(api_app).aggregate_pending().ok
    for endpoint in ENDPOINTS:
        with count_statements(api_app) as counter:
            api.ok(endpoint, s.token)
        assert any(table in q for q in counter.analytics for table in DATA_TABLES), f"{endpoint} came from the cache"
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 8


def test_after_a_reaggregation_a_hit_still_runs_no_sql(api, api_app, api_host, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    _late_event_on(api_host, s, days_ago(1))
    api.aggregate([days_ago(1)])
    fresh = api.ok("usage-summary", s.token)
    with count_statements(api_app) as counter:
        assert api.ok("usage-summary", s.token) == fresh
    assert counter.analytics == []
    assert fresh["summary"]["totalApiCalls"] == 1003


def test_a_run_that_changes_nothing_keeps_the_cached_answers(api, api_app, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    api.aggregate([days_ago(1)])  # the same sums again: nothing changed, nothing to invalidate
    with count_statements(api_app) as counter:
        api.ok("usage-summary", s.token)
    assert counter.analytics == []


def test_the_job_publishes_the_generation_to_redis_when_it_commits(api, api_app, api_host, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    _late_event_on(api_host, s, days_ago(1))
    api.aggregate([days_ago(1)])
    (generation,) = api_host.execute("SELECT generation FROM analytics_job_state").one()
    assert json.loads(redis_client.get(GENERATION_KEY)) == generation
    assert 0 < redis_client.ttl(GENERATION_KEY) <= GENERATION_MIRROR_TTL


def test_a_lost_generation_mirror_is_read_from_the_database_and_put_back(api, api_host, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    _late_event_on(api_host, s, days_ago(1))
    api.aggregate([days_ago(1)])
    redis_client.delete(GENERATION_KEY)  # evicted, or Redis restarted empty
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 1003
    (generation,) = api_host.execute("SELECT generation FROM analytics_job_state").one()
    assert json.loads(redis_client.get(GENERATION_KEY)) == generation


def test_a_stale_mirror_never_outlives_its_ttl(api, api_host, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    _late_event_on(api_host, s, days_ago(1))
    stale = json.loads(redis_client.get(GENERATION_KEY))
    api.aggregate([days_ago(1)])
    redis_client.set(GENERATION_KEY, json.dumps(stale), ex=1)  # as if the job could not reach Redis
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3  # the documented bound: the TTL
    time.sleep(1.1)
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 1003


def test_the_in_process_cache_sees_a_backfill_run_by_another_process(make_app):
    from host_app import HostData

    web = make_app()
    host = HostData(web)
    tenant = host.tenant()
    token = host.token(tenant)
    agent = host.agent(tenant)
    host.events([(tenant, agent, days_ago(1), "api_calls", 3)])
    Api(web).aggregate([days_ago(1)])
    assert Api(web).ok("usage-summary", token)["summary"]["totalApiCalls"] == 3
    host.events([(tenant, agent, days_ago(1), "api_calls", 1000)])
    command_line = make_app()  # 'flask analytics aggregate' runs in a process (and cache) of its own
    result = command_line.test_cli_runner().invoke(args=["analytics", "aggregate", "--date", days_ago(1).isoformat()])
    assert result.exit_code == 0, result.output
    assert Api(web).ok("usage-summary", token)["summary"]["totalApiCalls"] == 1003


@pytest.fixture
def database_refusing_connections(pg_url):
    """Make the test database refuse connections and drop the open ones (a real outage of this database only)."""
    from testenv import PG_ADMIN_URL, PG_DATABASE

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def go_down() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{PG_DATABASE}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": PG_DATABASE},
            )

    yield go_down
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{PG_DATABASE}" WITH ALLOW_CONNECTIONS true'))
    admin.dispose()


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="stops the test's own PostgreSQL database")
@pytest.mark.parametrize("backend_kind", ["in-process", "redis"])
def test_during_a_database_outage_cached_answers_are_still_served(
    pg_url, redis_client, database_refusing_connections, backend_kind
):
    from host_app import HostData, create_host_app, upgrade_schema
    from testenv import REDIS_URL

    config = {"ANALYTICS_CACHE_REDIS_URL": REDIS_URL} if backend_kind == "redis" else {}
    app = create_host_app(pg_url, ANALYTICS_API_TENANT_RESOLVER=_fixed_tenant, **config)
    with sa.create_engine(pg_url, isolation_level="AUTOCOMMIT").connect() as conn:  # a clean schema
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade_schema(app)
    host = HostData(app)
    _FIXED["tenant"] = tenant = host.tenant()
    host.events([(tenant, host.agent(tenant), days_ago(1), "api_calls", 4)])
    Api(app).aggregate([days_ago(1)])
    first = Api(app).ok("usage-summary", "any")
    database_refusing_connections()
    redis_client.delete(GENERATION_KEY)  # the mirror gone too: the generation must come from this process
    assert Api(app).ok("usage-summary", "any") == first
    assert Api(app).get("token-trends", "any").status_code == 503  # never cached: the outage shows


_FIXED: dict = {}


def _fixed_tenant(_request):
    return _FIXED["tenant"], "pro"


def test_retention_removing_old_aggregates_ends_the_cached_answers_over_them(make_app, redis_client):
    from host_app import HostData
    from testenv import REDIS_URL

    app = make_app(ANALYTICS_CACHE_REDIS_URL=REDIS_URL)
    host = HostData(app)
    tenant = host.tenant()
    token = host.token(tenant)
    host.events([(tenant, host.agent(tenant), days_ago(40), "api_calls", 6)])
    api = Api(app)
    with app.app_context():
        assert get_state(app).aggregate_pending().ok  # every day caught up: a re-run changes no day
    period = {"from_": days_ago(45).isoformat(), "to": days_ago(35).isoformat()}
    assert api.ok("usage-summary", token, **period)["summary"]["totalApiCalls"] == 6
    app.config["ANALYTICS_RETENTION_DAYS"] = 30
    with app.app_context():
        assert get_state(app).aggregate_pending().ok  # the same night again, now ending with retention
    assert api.ok("usage-summary", token, **period)["summary"]["totalApiCalls"] == 0
