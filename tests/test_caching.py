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

from agentidp_analytics_plugin.caching import cache_key
from agentidp_analytics_plugin.state import get_state
from api_fixtures import Api, count_statements, days_ago

ENDPOINTS = ["usage-summary", "agent-activity", "token-trends"]


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
    assert json.loads(redis_client.get(key)) == body


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
    assert api.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3
    assert not hasattr(builtins, "analytics_cache_pwned")
    assert json.loads(redis_client.get(key))["summary"]["totalApiCalls"] == 3  # overwritten with JSON


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
