"""Reads on a real streaming replica: where they run, what lag does to them, what happens when it fails.

The primary and its replica are real PostgreSQL servers the suite starts
(``conftest.py``); replication lag is made on demand by pausing the replica's
WAL replay (``pg_wal_replay_pause()``), exactly what a replica that falls
behind looks like to a reader.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from flask import Flask

from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.state import get_state
from host_app import HostData, create_host_app

pytestmark = pytest.mark.deployment


def days_ago(n: int) -> date:
    return utc_today() - timedelta(days=n)


class Tenant:
    """A pro tenant with an agent and an API token, written on the primary."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.host = HostData(app)
        self.id = self.host.tenant()
        self.agent = self.host.agent(self.id, name="reader")
        self.token = self.host.token(self.id)
        self.client = app.test_client()

    def calls(self, n: int, count: int) -> None:
        """``count`` api_calls ``n`` days ago."""
        self.host.events([(self.id, self.agent, days_ago(n), "api_calls", count)])

    def aggregate(self, *days_back: int) -> None:
        with self.app.app_context():
            report = get_state(self.app).aggregate(days=[days_ago(n) for n in days_back])
        assert report.ok, report.failed

    def summary(self, **params: str):
        query = {"from": days_ago(20).isoformat(), "to": days_ago(1).isoformat(), **params}
        return self.client.get(
            "/analytics/usage-summary", query_string=query, headers={"Authorization": f"Bearer {self.token}"}
        )

    def fallbacks(self, reason: str) -> float:
        registry = get_state(self.app).metrics.registry
        return registry.get_sample_value("agentidp_analytics_read_fallbacks_total", {"reason": reason}) or 0.0

    def forget_cached_answers(self) -> None:
        get_state(self.app).cache.clear()


def test_api_reads_run_on_the_replica_not_on_the_primary(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app())
    tenant.calls(3, 40)
    tenant.aggregate(3)
    replicated.caught_up()

    response = tenant.summary()

    assert response.status_code == 200
    assert response.get_json()["summary"]["totalApiCalls"] == 40
    assert replicated.plugin_connections(replicated.on_replica) >= 1
    # The job's connection is closed after its run; no read ever opened one on the primary.
    assert replicated.plugin_connections(replicated.on_primary) == 0


def test_while_replay_is_paused_answers_hold_the_replicas_numbers_and_freshness(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_MAX_LAG_SECONDS=None))
    tenant.calls(3, 40)
    tenant.aggregate(3)
    replicated.caught_up()
    replicated.pause_replay()
    tenant.calls(2, 7)
    tenant.aggregate(2)  # committed on the primary, not yet visible on the replica

    lagging = tenant.summary().get_json()
    replicated.resume_replay()
    replicated.caught_up()
    tenant.forget_cached_answers()
    current = tenant.summary().get_json()

    assert (lagging["summary"]["totalApiCalls"], lagging["dataCompleteThrough"]) == (40, days_ago(3).isoformat())
    assert (current["summary"]["totalApiCalls"], current["dataCompleteThrough"]) == (47, days_ago(2).isoformat())


def test_answers_never_claim_a_day_their_numbers_do_not_hold_while_days_replicate(make_replicated_app, replicated):
    """The job commits day after day on the primary while the replica replays and requests read it."""
    tenant = Tenant(make_replicated_app(ANALYTICS_CACHE_TTL_SUMMARY=1))
    per_day = {n: 10 * n for n in range(1, 13)}
    for n, count in per_day.items():
        tenant.calls(n, count)
    tenant.aggregate(12)
    replicated.caught_up()
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def aggregate_day_by_day() -> None:
        try:
            for n in range(11, 0, -1):
                tenant.aggregate(n)
        finally:
            done.set()

    writer = threading.Thread(target=aggregate_day_by_day)
    writer.start()
    while not done.is_set() or len(seen) < 5:
        # A new period each time: no two requests share a cache entry.
        answer = tenant.summary(**{"from": days_ago(20 + len(seen) % 500).isoformat()}).get_json()
        seen.append((answer["summary"]["totalApiCalls"], answer["dataCompleteThrough"]))
    writer.join()

    everything = sum(per_day.values())
    for total, through in seen:
        # Every day up to the one claimed is in the numbers (and nothing that was never aggregated).
        claimed = sum(count for n, count in per_day.items() if days_ago(n).isoformat() <= through)
        assert claimed <= total <= everything, (total, through)
    assert len({through for _, through in seen}) > 1, "the replica never moved while it was read"


def test_replica_stopped_reads_fall_back_to_the_primary(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_RETRY_SECONDS=60))
    tenant.calls(3, 40)
    tenant.aggregate(3)
    replicated.replica.stop()

    first, second = tenant.summary(), tenant.summary(to=days_ago(2).isoformat())

    assert [first.status_code, second.status_code] == [200, 200]
    assert first.get_json()["summary"]["totalApiCalls"] == 40
    # The first read found it down; the next ones (the data generation, then the second request's) rested it.
    assert tenant.fallbacks("unreachable") == 1
    assert tenant.fallbacks("resting") >= 1


def test_replica_stopped_without_fallback_answers_the_json_503(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_FALLBACK="false"))
    replicated.replica.stop()

    response = tenant.summary()

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"]


def test_replica_back_after_a_failure_serves_reads_again(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_RETRY_SECONDS=0.5))
    replicated.replica.stop()
    assert tenant.summary().status_code == 200
    replicated.replica.start()
    replicated.caught_up()
    time.sleep(0.6)
    with tenant.app.app_context():
        get_state(tenant.app).engines.replica.dispose()  # the dead pooled connections

    assert tenant.summary(to=days_ago(2).isoformat()).status_code == 200
    assert replicated.plugin_connections(replicated.on_replica) >= 1


@pytest.mark.parametrize(
    ("fallback", "status", "total"), [(True, 200, 47), (False, 503, None)], ids=["to-the-primary", "503"]
)
def test_replica_far_behind_sends_reads_to_the_primary_or_answers_503(
    make_replicated_app, replicated, fallback, status, total
):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_MAX_LAG_SECONDS=1, ANALYTICS_READ_FALLBACK=fallback))
    tenant.calls(3, 40)
    tenant.aggregate(3)
    replicated.caught_up()
    replicated.pause_replay()
    tenant.calls(2, 7)
    tenant.aggregate(2)
    time.sleep(1.5)  # the replica's last replayed commit is now older than the allowed lag

    response = tenant.summary()

    assert response.status_code == status
    if total is not None:
        assert response.get_json()["summary"]["totalApiCalls"] == total
        assert response.get_json()["dataCompleteThrough"] == days_ago(2).isoformat()
    # Every read of the request (the data generation, then the numbers) found the replica behind.
    assert tenant.fallbacks("behind") >= 1


def test_a_quiet_replica_is_not_behind_however_old_its_last_commit(make_replicated_app, replicated):
    tenant = Tenant(make_replicated_app(ANALYTICS_READ_MAX_LAG_SECONDS=1))
    tenant.calls(3, 40)
    tenant.aggregate(3)
    replicated.caught_up()
    time.sleep(1.5)  # nothing written since: everything received is replayed

    assert tenant.summary().status_code == 200
    assert tenant.fallbacks("behind") == 0


def test_a_replica_url_on_sqlite_fails_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="ANALYTICS_READ_DATABASE_URL or ANALYTICS_READ_BIND"):
        create_host_app(
            f"sqlite:///{tmp_path / 'h.sqlite'}",
            ANALYTICS_READ_DATABASE_URL="postgresql+psycopg://reader@127.0.0.1:1/idp",
        )


def test_a_named_bind_is_the_replica(make_replicated_app, replicated):
    app = make_replicated_app(
        ANALYTICS_READ_DATABASE_URL=None,
        ANALYTICS_READ_BIND="replica",
        SQLALCHEMY_BINDS={"replica": replicated.replica.url},
    )
    with app.app_context():
        assert get_state(app).engines.replica.url.port == replicated.replica.port
