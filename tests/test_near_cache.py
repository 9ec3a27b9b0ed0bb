"""The in-process tier in front of Redis: what each process keeps, for how long, and what it never serves."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from services import RedisInstance

from agentidp_analytics_plugin.caching import CachedAnswer
from agentidp_analytics_plugin.near_cache import NearCache
from agentidp_analytics_plugin.state import get_state
from api_fixtures import Api, count_statements, days_ago

#: The tables answers are read from: a statement on one of them means the answer was computed.
DATA_TABLES = ("analytics_daily_aggregates", "analytics_tenant_daily", "analytics_agent_weekly")


def _computed(counter) -> bool:
    return any(table in q for q in counter.analytics for table in DATA_TABLES)


def _entry_key(redis_client, s, endpoint="usage-summary") -> bytes:
    [key] = redis_client.keys(f"analytics:{s.tenant}:{endpoint}:*")
    return key


def _answer(size: int) -> CachedAnswer:
    return CachedAnswer(b"x" * size, "d", None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- the tier itself ---------------------------------------------------------------------------


def test_the_least_recently_used_answer_leaves_first_when_the_bytes_run_out():
    tier = NearCache(100)
    tier.put("a", _answer(40), deadline=time.monotonic() + 60)
    tier.put("b", _answer(40), deadline=time.monotonic() + 60)
    assert tier.get("a") is not None  # "a" is now the most recently used
    tier.put("c", _answer(40), deadline=time.monotonic() + 60)
    assert (tier.get("a") is not None, tier.get("b"), tier.get("c") is not None) == (True, None, True)
    assert tier.size_bytes == 80


def test_an_answer_larger_than_the_whole_budget_is_not_kept():
    tier = NearCache(100)
    tier.put("small", _answer(60), deadline=time.monotonic() + 60)
    tier.put("huge", _answer(101), deadline=time.monotonic() + 60)
    assert (tier.get("huge"), tier.get("small") is not None) == (None, True)


def test_an_entry_is_never_served_at_or_after_its_deadline():
    clock = Clock()
    tier = NearCache(100, clock=clock)
    tier.put("a", _answer(10), deadline=clock.now + 5)
    clock.now += 4.999
    assert tier.get("a") is not None
    clock.now += 0.001
    assert tier.get("a") is None
    assert tier.size_bytes == 0


def test_the_tier_keeps_the_bytes_not_the_parsed_fields():
    tier = NearCache(1000)
    tier.put("a", CachedAnswer.of({"n": 1}), deadline=time.monotonic() + 60)
    served = tier.get("a")
    assert served["n"] == 1  # parsed in the served wrapper...
    assert tier.get("a")._fields is None  # ...never in the entry the tier keeps


# --- in the app ----------------------------------------------------------------------------------


def test_a_local_hit_is_served_without_reading_the_entry_from_redis(api, api_app, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    first = api.ok("usage-summary", s.token)
    redis_client.delete(_entry_key(redis_client, s))  # only this process's copy is left
    with count_statements(api_app) as counter:
        assert api.ok("usage-summary", s.token) == first
    assert not _computed(counter)


def test_a_local_hit_counts_as_a_cache_hit(api, api_app, seed, redis_client):
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)
    redis_client.delete(_entry_key(redis_client, s))
    hits = get_state(api_app).metrics.cache_hits.labels(endpoint="usage-summary")
    before = hits._value.get()
    api.ok("usage-summary", s.token)
    assert hits._value.get() == before + 1


def test_zero_bytes_switches_the_local_tier_off(make_app, api_config, seed, redis_client):
    app = make_app(**api_config, ANALYTICS_CACHE_LOCAL_MAX_BYTES=0)
    assert get_state(app).cache.local is None
    s = seed([("alpha", 1, "api_calls", 3)])
    Api(app).ok("usage-summary", s.token)
    redis_client.delete(_entry_key(redis_client, s))
    with count_statements(app) as counter:
        Api(app).ok("usage-summary", s.token)
    assert _computed(counter)


def test_the_in_process_backend_has_no_local_tier(make_app):
    app = make_app(ANALYTICS_CACHE_LOCAL_MAX_BYTES=2**20)
    assert get_state(app).cache.local is None


def test_a_second_app_never_serves_its_local_answer_after_another_process_re_aggregates(
    api, api_host, make_app, api_config, seed
):
    s = seed([("alpha", 1, "api_calls", 3)])
    other = Api(make_app(**api_config))  # another worker, with its own local tier
    assert other.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 3
    assert len(get_state(other.app).cache.local) == 1
    api_host.events([(s.tenant, s.agents["alpha"], days_ago(1), "api_calls", 1000)])
    api.aggregate([days_ago(1)])  # the job runs in the first app: a new generation, published to Redis
    assert other.ok("usage-summary", s.token)["summary"]["totalApiCalls"] == 1003


def test_a_copy_read_from_redis_expires_when_the_redis_entry_does(api, make_app, api_config, seed, redis_client):
    other = make_app(**api_config)  # built first: building an app can outlast the entry's last second
    other.test_client().get("/analytics/usage-summary")  # its checks at first use, done before the clock runs
    s = seed([("alpha", 1, "api_calls", 3)])
    api.ok("usage-summary", s.token)  # computed and stored by the first app, for 60 s
    redis_client.pexpire(_entry_key(redis_client, s), 1000)  # as if computed 59 s ago
    with count_statements(other) as first:
        Api(other).ok("usage-summary", s.token)  # read from Redis: kept locally for what is left, 1 s
    assert not _computed(first)
    time.sleep(1.1)
    with count_statements(other) as counter:
        Api(other).ok("usage-summary", s.token)
    assert _computed(counter)


def test_an_answer_computed_here_is_kept_no_longer_than_its_ttl(make_app, api_config, seed):
    app = make_app(**api_config, ANALYTICS_CACHE_TTL_SUMMARY=1)
    s = seed([("alpha", 1, "api_calls", 3)])
    Api(app).ok("usage-summary", s.token)
    time.sleep(1.1)
    with count_statements(app) as counter:
        Api(app).ok("usage-summary", s.token)
    assert _computed(counter)


# --- a Redis outage ------------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="needs the redis-server binary to start and stop a Redis of its own (CI always runs it)",
)
def test_during_a_redis_outage_a_re_aggregated_answer_is_served_not_the_local_copy(make_app, tmp_path):
    from host_app import HostData

    redis_server = RedisInstance(tmp_path)
    app = make_app(ANALYTICS_CACHE_REDIS_URL=redis_server.url)
    host = HostData(app)
    tenant = host.tenant()
    token = host.token(tenant)
    agent = host.agent(tenant)
    host.events([(tenant, agent, days_ago(1), "api_calls", 3)])
    api = Api(app)
    api.aggregate([days_ago(1)])
    redis_server.start()
    try:
        assert api.ok("usage-summary", token)["summary"]["totalApiCalls"] == 3
        assert len(get_state(app).cache.local) == 1
    finally:
        redis_server.stop()
    host.events([(tenant, agent, days_ago(1), "api_calls", 1000)])
    api.aggregate([days_ago(1)])  # committed; the new generation cannot reach Redis
    assert api.ok("usage-summary", token)["summary"]["totalApiCalls"] == 1003
