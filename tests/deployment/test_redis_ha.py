"""The cache and the rate limits on a highly available Redis: a real Redis Cluster and a real Sentinel.

Both are started by the suite on loopback ports of their own
(``tests/services.py``); the shared Redis other test runs use is never
touched. The database is the suite's PostgreSQL test database.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from services import RedisClusterInstance, RedisSentinelInstance

from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.call_setup import flush
from agentidp_analytics_plugin.state import get_state
from call_pattern_helpers import CAPTURE_CONFIG, add_api_routes, caller, total_calls
from host_app import HostData, create_host_app, upgrade_schema

pytestmark = pytest.mark.deployment


def days_ago(n: int) -> date:
    return utc_today() - timedelta(days=n)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterInstance]:
    instance = RedisClusterInstance(tmp_path_factory.mktemp("redis-cluster"))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelInstance]:
    instance = RedisSentinelInstance(tmp_path_factory.mktemp("redis-sentinel"))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def make_hosts(pg_url: str) -> Iterator[Callable[..., Flask]]:
    """Host apps on one PostgreSQL database (schema created once), as separate app hosts would be."""
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    built: list[Flask] = []

    def factory(redis_url: str, before_plugins: Callable[[Flask], None] | None = None, **config: Any) -> Flask:
        settings = {
            "ANALYTICS_CACHE_REDIS_URL": redis_url,
            "ANALYTICS_RATELIMIT_STORAGE_URI": redis_url,
            "ANALYTICS_RATELIMIT": "10000 per minute",
            **config,
        }
        app = create_host_app(pg_url, before_plugins, **settings)
        if not built:
            upgrade_schema(app)
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            app.extensions["sqlalchemy"].session.remove()
            app.extensions["sqlalchemy"].engine.dispose()


class Tenant:
    """A pro tenant with one agent, aggregated usage and an API token."""

    def __init__(self, app: Flask) -> None:
        host = HostData(app)
        self.id = host.tenant()
        agent = host.agent(self.id, name="worker")
        host.events([(self.id, agent, days_ago(n), "api_calls", 10 * n) for n in range(1, 8)])
        with app.app_context():
            assert get_state(app).aggregate(days=[days_ago(n) for n in range(1, 8)]).ok
        self.token = host.token(self.id)

    def summary(self, app: Flask, days: int = 7):
        query = {"from": days_ago(days).isoformat(), "to": days_ago(1).isoformat()}
        return app.test_client().get(
            "/analytics/usage-summary", query_string=query, headers={"Authorization": f"Bearer {self.token}"}
        )


def usage_summary_metric(app: Flask, name: str) -> float:
    """A counter of the usage-summary endpoint, read from the app's registry as a scrape would."""
    registry = get_state(app).metrics.registry
    return registry.get_sample_value(f"agentidp_analytics_{name}_total", {"endpoint": "usage-summary"}) or 0.0


def cache_hits(app: Flask) -> float:
    return usage_summary_metric(app, "cache_hits")


def cluster_keys(cluster: RedisClusterInstance) -> list[str]:
    keys: list[str] = []
    for port in cluster.ports:
        client = redis.Redis(port=port)
        keys += [k.decode() for k in client.keys("analytics:*")]
        client.close()
    return keys


def flush_cluster(cluster: RedisClusterInstance) -> None:
    for port in cluster.ports:
        client = redis.Redis(port=port)
        client.flushall()
        client.close()


def under_load(requests: Callable[[], int], seconds: float, threads: int = 4) -> Counter[int]:
    """Status codes of ``requests`` called in a loop by several threads for ``seconds``."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop_at:
            status = requests()
            with lock:
                statuses[status] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return statuses


def test_answers_are_cached_in_the_cluster_under_the_spec_key_format(make_hosts, cluster):
    flush_cluster(cluster)
    app = make_hosts(cluster.url)
    tenant = Tenant(app)

    first, second = tenant.summary(app), tenant.summary(app)

    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert cache_hits(app) == 1
    # The tenant's one answer (beside the aggregate generation the job mirrors, analytics:generation).
    (key,) = [k for k in cluster_keys(cluster) if k.startswith(f"analytics:{tenant.id}:")]
    assert key.startswith(f"analytics:{tenant.id}:usage-summary:")


def test_another_app_host_reads_the_answer_the_first_one_cached(make_hosts, cluster):
    flush_cluster(cluster)
    one, two = make_hosts(cluster.url), make_hosts(cluster.url)
    tenant = Tenant(one)

    assert tenant.summary(one).status_code == 200
    assert tenant.summary(two).status_code == 200

    assert cache_hits(one) == 0
    assert cache_hits(two) == 1


def test_rate_limits_are_shared_by_app_hosts_through_the_cluster(make_hosts, cluster):
    flush_cluster(cluster)
    one, two = (make_hosts(cluster.url, ANALYTICS_RATELIMIT="3 per minute") for _ in range(2))
    tenant = Tenant(one)

    statuses = [tenant.summary(app).status_code for app in (one, two, one, two)]

    assert statuses == [200, 200, 200, 429]


def test_a_cluster_node_stopped_under_load_gives_no_error_and_caching_resumes(make_hosts, cluster):
    flush_cluster(cluster)
    app = make_hosts(cluster.url)
    tenants = [Tenant(app) for _ in range(6)]  # keys spread over the cluster's slots
    victim = cluster.ports[1]
    counter = iter(range(10**9))

    def request() -> int:
        n = next(counter)
        return tenants[n % len(tenants)].summary(app, days=1 + n % 7).status_code

    stopper = threading.Timer(0.5, cluster.stop_node, args=(victim,))
    stopper.start()
    statuses = under_load(request, seconds=4)
    stopper.join()

    cluster.start_node(victim)
    cluster.wait_healthy()
    assert set(statuses) == {200}, statuses
    assert sum(statuses.values()) > 20
    errors = usage_summary_metric(app, "cache_errors")
    assert errors >= 1  # the node really was gone for some requests
    hits_before = cache_hits(app)
    deadline = time.monotonic() + 15
    while cache_hits(app) == hits_before and time.monotonic() < deadline:
        tenants[0].summary(app)
        time.sleep(0.2)
    assert cache_hits(app) > hits_before


def test_the_cache_follows_a_sentinel_failover_without_an_error(make_hosts, sentinel):
    app = make_hosts(sentinel.url)
    tenant = Tenant(app)
    assert tenant.summary(app).status_code == 200

    sentinel.fail_primary()
    statuses = under_load(lambda: tenant.summary(app).status_code, seconds=2, threads=2)
    sentinel.wait_failover()

    assert set(statuses) == {200}, statuses
    hits_before = cache_hits(app)
    deadline = time.monotonic() + 15
    while cache_hits(app) == hits_before and time.monotonic() < deadline:
        tenant.summary(app)
        time.sleep(0.2)
    assert cache_hits(app) > hits_before
    promoted = redis.Redis(port=sentinel.replica)
    assert any(k.startswith(b"analytics:") for k in promoted.keys("analytics:*"))
    promoted.close()


def test_rate_limits_are_kept_on_the_sentinels_primary(make_hosts, sentinel):
    one, two = (make_hosts(sentinel.url, ANALYTICS_RATELIMIT="2 per minute") for _ in range(2))
    tenant = Tenant(one)

    statuses = [tenant.summary(app).status_code for app in (one, two, one)]

    assert statuses == [200, 200, 429]
    primary = redis.Redis(port=sentinel.primary)
    assert primary.keys("*analytics*")
    primary.close()


@pytest.mark.parametrize("engine", ["cluster", "sentinel"])
def test_call_pattern_counts_go_through_the_ha_redis_and_reach_the_table_once(make_hosts, cluster, sentinel, engine):
    if engine == "cluster":
        flush_cluster(cluster)
    url = cluster.url if engine == "cluster" else sentinel.url
    app = make_hosts(url, before_plugins=add_api_routes, **CAPTURE_CONFIG)
    tenant = HostData(app).tenant()
    client = app.test_client()
    for _ in range(7):
        assert client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant)).status_code == 200

    assert get_state(app).call_patterns.counts.ship()
    with app.app_context():
        flush(get_state(app))
        flush(get_state(app))  # nothing left to add twice

    assert total_calls(app) == 7


@pytest.mark.parametrize(
    "url",
    ["redis+cluster://127.0.0.1:notaport", "redis+sentinel://127.0.0.1:26379", "redis+cluster://127.0.0.1:7000/3"],
)
def test_a_malformed_ha_url_is_refused_at_start_up_naming_the_key(pg_url, url, tmp_path: Path):
    with pytest.raises(ValueError, match="ANALYTICS_CACHE_REDIS_URL"):
        create_host_app(f"sqlite:///{tmp_path / 'h.sqlite'}", ANALYTICS_CACHE_REDIS_URL=url)
