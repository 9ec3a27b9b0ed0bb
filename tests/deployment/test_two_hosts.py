"""Two app hosts on one primary, one replica and one Redis: one job run, shared limits and cache, honest metrics.

The hosts are two gunicorn servers of the reference IdP (``two_hosts.py``),
each with two workers, so four schedulers fire the nightly job at the same
minute. The job is scheduled a minute or two ahead (``ANALYTICS_JOB_HOUR`` /
``ANALYTICS_JOB_MINUTE``), which is what makes this module take about a minute.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from services import RedisInstance
from two_hosts import AppHost, flask, get, host_env

pytestmark = pytest.mark.deployment


@dataclass
class Install:
    one: AppHost
    two: AppHost
    tokens: dict[str, str]
    job_at: datetime
    primary: sa.Engine


def _job_minute(now: datetime) -> datetime:
    """The next whole minute at least 25 s away: time for both servers to start."""
    at = (now + timedelta(seconds=25)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return at


@pytest.fixture(scope="module")
def install(replicated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    workdir: Path = tmp_path_factory.mktemp("two-hosts")
    redis = RedisInstance(workdir)
    redis.start()
    replicated.reset()
    env = host_env(
        DATABASE_URL=replicated.primary.url,
        REDIS_URL=redis.url,
        ANALYTICS_READ_DATABASE_URL=replicated.replica.url,
        ANALYTICS_RATELIMIT="4 per minute",
    )
    flask(env, workdir, "idp", "seed-demo")
    tokens = {slug: flask(env, workdir, "idp", "token", slug).strip().splitlines()[-1] for slug in ("acme", "globex")}
    replicated.caught_up()
    # Chosen once seeding is done, which can take over a minute on a busy machine: a slot that
    # passed before the servers started would never fire (the cron's next run is the next day).
    job_at = _job_minute(datetime.now(UTC))
    env.update(ANALYTICS_JOB_HOUR=str(job_at.hour), ANALYTICS_JOB_MINUTE=str(job_at.minute))
    one, two = AppHost("one", workdir, env), AppHost("two", workdir, env)
    try:
        one.start()
        two.start()
        yield Install(one, two, tokens, job_at, replicated.on_primary)
    finally:
        one.stop()
        two.stop()
        redis.stop()


def summary(host: AppHost, token: str) -> tuple[int, dict]:
    status, body = get(host.port, "/analytics/usage-summary", token)
    return status, json.loads(body)


def test_a_cached_answer_of_one_host_is_served_by_the_other(install):
    token = install.tokens["acme"]
    status_one, first = summary(install.one, token)
    status_two, second = summary(install.two, token)

    assert status_one == status_two == 200
    assert first == second
    hits = 'agentidp_analytics_cache_hits_total{endpoint="usage-summary"}'
    misses = 'agentidp_analytics_cache_misses_total{endpoint="usage-summary"}'
    # Counters are per host: the miss on the first, the hit on the second.
    assert install.one.metric(misses) == 1 and install.one.metric(hits) == 0
    assert install.two.metric(hits) == 1 and install.two.metric(misses) == 0


def test_the_rate_limit_is_shared_by_both_hosts(install):
    token = install.tokens["globex"]
    statuses = [get(host.port, "/analytics/token-trends", token)[0] for host in (install.one, install.two) * 3]

    assert statuses == [200, 200, 200, 200, 429, 429]


def test_the_nightly_job_fires_on_both_hosts_and_runs_once(install):
    deadline = install.job_at + timedelta(seconds=90)
    runs = re.compile(r"Analytics aggregation (ran|skipped|done-elsewhere): \d+ day")
    while datetime.now(UTC) < deadline:
        lines = [m.group(1) for host in (install.one, install.two) for m in runs.finditer(host.log.read_text())]
        if len(lines) == 4:  # two workers per host, each with its scheduler
            break
        time.sleep(1)

    per_host = {
        host.name: [m.group(1) for m in runs.finditer(host.log.read_text())] for host in (install.one, install.two)
    }
    outcomes = per_host["one"] + per_host["two"]
    assert all(len(fired) == 2 for fired in per_host.values()), per_host  # it fired in every worker
    # One run did the work; the others found the lock held, or the slot's run finished.
    assert outcomes.count("ran") == 1, per_host
    assert set(outcomes) - {"ran"} <= {"skipped", "done-elsewhere"}, per_host


def test_after_the_run_both_hosts_report_the_same_last_run(install):
    test_the_nightly_job_fires_on_both_hosts_and_runs_once(install)
    gauge = "agentidp_analytics_aggregation_job_last_run"
    with install.primary.connect() as conn:
        finished = conn.execute(sa.text("SELECT max(aggregated_at) FROM analytics_aggregated_days")).scalar_one()

    # Each process re-reads the ledger at most every 5 s (REFRESH_INTERVAL) when scraped.
    deadline = time.monotonic() + 15
    while True:
        one, two = install.one.metric(gauge), install.two.metric(gauge)
        if one == two or time.monotonic() > deadline:
            break
        time.sleep(1)

    assert one == two
    assert one is not None and abs(one - finished.timestamp()) < 5
    assert finished >= install.job_at
