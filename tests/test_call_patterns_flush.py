"""Counted calls reach the table exactly once: through Redis, when Redis is down, across dying and racing flushers.

The fault tests run real flusher processes on PostgreSQL and Redis and kill
one with SIGKILL at the two dangerous points: inside its transaction, and
after its commit but before it deletes the Redis hash it claimed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path

import pytest

from agentidp_analytics_plugin.call_counts import stored_form
from agentidp_analytics_plugin.call_flush import CLAIMED_PREFIX, LIVE_PREFIX, apply_batch, decode_hash
from agentidp_analytics_plugin.call_setup import flush
from agentidp_analytics_plugin.state import get_state
from call_pattern_helpers import CAPTURE_CONFIG, CREDENTIALS_ROUTE, add_api_routes, caller, stored, total_calls
from host_app import HostData
from testenv import REDIS_URL

FLUSHER = Path(__file__).parent / "call_pattern_flusher.py"


@pytest.fixture
def redis_app(make_app, redis_client):
    return make_app(before_plugins=add_api_routes, ANALYTICS_CALL_PATTERNS_REDIS_URL=REDIS_URL, **CAPTURE_CONFIG)


@pytest.fixture
def host(redis_app):
    """The host's rows, written through the app under test (pytest-flask pushes the 'app' fixture's context)."""
    return HostData(redis_app)


def _calls(app, tenant, n: int, agent=None) -> None:
    client = app.test_client()
    for _ in range(n):
        assert client.get(f"/api/agents/{uuid.uuid4()}/credentials", headers=caller(tenant, agent)).status_code == 200


def _push(app) -> None:
    assert get_state(app).call_patterns.counts.ship()


def _flush(app):
    with app.app_context():
        return flush(get_state(app))


def _keys(redis_client, prefix: str) -> list[bytes]:
    return list(redis_client.scan_iter(match=f"{prefix}*"))


def test_counts_wait_in_a_redis_hash_of_the_day_until_the_flush(redis_app, host, redis_client):
    tenant = host.tenant()
    _calls(redis_app, tenant, 4)
    _push(redis_app)
    assert len(_keys(redis_client, LIVE_PREFIX)) == 1
    assert total_calls(redis_app) == 0
    _flush(redis_app)
    assert total_calls(redis_app) == 4
    assert not _keys(redis_client, LIVE_PREFIX) and not _keys(redis_client, CLAIMED_PREFIX)


def test_later_flushes_add_to_the_same_rows(redis_app, host):
    tenant = host.tenant()
    agent = host.agent(tenant)
    for n in (2, 3):
        _calls(redis_app, tenant, n, agent)
        _push(redis_app)
        _flush(redis_app)
    assert {k: c for k, (c, _) in stored(redis_app).items()} == {(agent, "GET", CREDENTIALS_ROUTE, "2xx"): 5}


def test_a_batch_resent_to_redis_is_added_once(redis_app, host):
    counts = get_state(redis_app).call_patterns.counts
    tenant = host.tenant()
    _calls(redis_app, tenant, 3)
    batch = (uuid.uuid4().hex, stored_form(counts.take()))  # taken out of the buffer, as ship() does
    assert counts.pending() == 0
    assert counts._push(*batch) and counts._push(*batch)  # the reply of the first one was "lost"
    _flush(redis_app)
    assert total_calls(redis_app) == 3


def test_a_claimed_hash_offered_twice_is_added_once(redis_app, host):
    tenant = host.tenant()
    _calls(redis_app, tenant, 3)
    _push(redis_app)
    state = get_state(redis_app)
    (live,) = _keys(state.call_patterns.redis, LIVE_PREFIX)
    day = date.fromisoformat(live.decode()[len(LIVE_PREFIX) :])
    counted = decode_hash(day, state.call_patterns.redis.hgetall(live))
    # The same key twice, as two flushers that picked up one claimed hash would.
    first = apply_batch(state.engine, state.tables, "claimed-once", counted)
    second = apply_batch(state.engine, state.tables, "claimed-once", counted)
    assert (first.applied, second.applied, second.duplicates) == (1, 0, 1)
    assert total_calls(redis_app) == 3


def test_with_redis_down_counts_stay_in_the_process_and_reach_the_table_at_exit(make_app):
    app = make_app(
        before_plugins=add_api_routes, ANALYTICS_CALL_PATTERNS_REDIS_URL="redis://127.0.0.1:1/0", **CAPTURE_CONFIG
    )
    tenant = HostData(app).tenant()
    _calls(app, tenant, 5)  # every request answers although Redis is unreachable
    counts = get_state(app).call_patterns.counts
    assert not counts.ship()
    assert counts.pending() == 5
    registry = get_state(app).metrics.registry
    assert registry.get_sample_value("agentidp_analytics_call_pattern_errors_total", {"stage": "push"}) == 1
    counts.close()
    assert counts.pending() == 0 and total_calls(app) == 5


def test_the_cli_flushes_redis_into_the_table(redis_app, host):
    tenant = host.tenant()
    _calls(redis_app, tenant, 2)
    _push(redis_app)
    result = redis_app.test_cli_runner().invoke(args=["analytics", "flush-call-patterns"])
    assert result.exit_code == 0, result.output
    assert "1 batch(es) added (2 calls" in result.output
    assert total_calls(redis_app) == 2


def test_the_cli_says_when_counting_is_off(make_app):
    result = make_app().test_cli_runner().invoke(args=["analytics", "flush-call-patterns"])
    assert result.exit_code == 1 and "ANALYTICS_CALL_PATTERNS_ENABLED is off" in result.output


# --- real processes, PostgreSQL and Redis ------------------------------------------------------------


def _flusher(database_url: str, point: str, seconds: float = 5) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "FLUSHER_DATABASE_URL": database_url,
        "FLUSHER_REDIS_URL": REDIS_URL,
        "FLUSHER_SECONDS": str(seconds),
    }
    return subprocess.Popen(
        [sys.executable, str(FLUSHER), point], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )


def _killed_at(process: subprocess.Popen[str]) -> None:
    line = process.stdout.readline()  # blocks until the flusher reached its point
    assert line.strip() == "PAUSED", line
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_flusher_killed_inside_its_transaction_loses_nothing(redis_app, host, redis_client, database_url):
    tenant = host.tenant()
    _calls(redis_app, tenant, 7)
    _push(redis_app)
    _killed_at(_flusher(database_url, "before-commit"))
    assert total_calls(redis_app) == 0  # its transaction died with it
    assert len(_keys(redis_client, CLAIMED_PREFIX)) == 1  # the hash it claimed is still there
    _flush(redis_app)
    assert total_calls(redis_app) == 7
    assert not _keys(redis_client, CLAIMED_PREFIX)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_flusher_killed_after_its_commit_is_not_counted_twice(redis_app, host, redis_client, database_url):
    tenant = host.tenant()
    _calls(redis_app, tenant, 7)
    _push(redis_app)
    _killed_at(_flusher(database_url, "after-commit"))
    assert total_calls(redis_app) == 7  # committed...
    assert len(_keys(redis_client, CLAIMED_PREFIX)) == 1  # ...but its hash was not deleted
    report = _flush(redis_app)
    assert (report.applied, report.duplicates) == (0, 1)
    assert total_calls(redis_app) == 7
    assert not _keys(redis_client, CLAIMED_PREFIX)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_flushers_racing_while_calls_arrive_count_every_call_once(redis_app, host, database_url):
    tenant = host.tenant()
    agents = [host.agent(tenant, f"agent-{i}") for i in range(3)]
    flushers = [_flusher(database_url, "loop", seconds=6) for _ in range(2)]
    sent = 0
    stop = threading.Event()
    # Calls keep arriving and being pushed while both flushers claim and add.
    while not stop.is_set() and sent < 300:
        for agent in agents:
            _calls(redis_app, tenant, 5, agent)
            sent += 5
        _push(redis_app)
    for process in flushers:
        assert process.stdout.readline().strip() == "DONE"
        assert process.wait(timeout=30) == 0
    _flush(redis_app)
    assert total_calls(redis_app) == sent


def test_the_periodic_job_flushes_like_the_cli(redis_app, host, redis_client):
    from agentidp_analytics_plugin.scheduler import run_call_patterns_flush

    tenant = host.tenant()
    _calls(redis_app, tenant, 3)
    _push(redis_app)
    run_call_patterns_flush(redis_app)
    assert total_calls(redis_app) == 3 and not _keys(redis_client, LIVE_PREFIX)


def test_a_failing_periodic_flush_is_counted_and_keeps_the_counts_for_the_next_run(redis_app, host, redis_client):
    from agentidp_analytics_plugin.scheduler import run_call_patterns_flush

    tenant = host.tenant()
    _calls(redis_app, tenant, 3)
    _push(redis_app)
    host.execute("ALTER TABLE analytics_call_patterns RENAME TO call_patterns_away")  # the table is gone
    run_call_patterns_flush(redis_app)
    registry = get_state(redis_app).metrics.registry
    assert registry.get_sample_value("agentidp_analytics_call_pattern_errors_total", {"stage": "flush"}) == 1
    host.execute("ALTER TABLE call_patterns_away RENAME TO analytics_call_patterns")
    run_call_patterns_flush(redis_app)
    assert total_calls(redis_app) == 3
