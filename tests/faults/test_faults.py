"""The fault suite: the reference host with the plugin under load while its database and cache fail.

One stack for the module (PostgreSQL and Redis of the suite's own, gunicorn
with several workers), one load running through every phase. Each phase
asserts what clients saw: only 200s and the designed refusals in steady
state; during a fault only 200s and the JSON 503 with ``Retry-After`` (never
another 5xx, an HTML page or a dropped connection); no worker killed; and
recovery without a restart. The aggregation is SIGKILLed at random points and
run twice at once, and schemathesis sends at least 1,000 generated requests
per operation. The figures go to ``test-artifacts/faults/reliability.md``
(``docs/reliability.md`` is a copy of one run).

Bounded: about three minutes on two cores, loopback only.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
import yaml
from harness import ROOT, WORKERS, Answer, Load, Report, Stack, count_schemathesis_cases, request

from agentidp_analytics_plugin.schema import LEDGER_TABLE

pytestmark = pytest.mark.faults

STEADY_SECONDS = 10
FAULT_SECONDS = 8
#: A freeze outlasts the round-trip bound (6 s) plus the connect timeout (2 s) by a few seconds, so
#: every worker must answer a 503 while it lasts. A worker whose frozen round trip was the rollback
#: of a request that had already answered sends that answer (200) when the rollback is cut at 6 s;
#: only its next request, which needs a new connection, fails, 2 s later. With an 8 s freeze that
#: failure raced the thaw, and a run could end with no 503 at all although every wait was bounded.
FROZEN_SECONDS = 12
#: Refusals the mix asks for on purpose: a too long period, an invalid token, a free-tier tenant.
DESIGNED = {200, 400, 401, 403}
REPORT_DIR = Path(os.environ.get("FAULTS_REPORT_DIR", ROOT / "test-artifacts" / "faults"))


@pytest.fixture(scope="module")
def report() -> Iterator[Report]:
    figures = Report(FAULT_SECONDS, FROZEN_SECONDS)
    yield figures
    path = figures.write(REPORT_DIR)
    print(f"\nfault suite figures: {path}")


@pytest.fixture(scope="module")
def stack(report: Report, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("faults"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def load(stack: Stack) -> Iterator[Load]:
    running = Load(stack).start()
    time.sleep(2)
    yield running
    running.stop()


def run_phase(load: Load, name: str, seconds: float) -> None:
    load.phase = name
    time.sleep(seconds)


def assert_only_designed_answers(answers: list[Answer], allowed: set[int]) -> None:
    assert answers, "no request was sent"
    unexpected = [a for a in answers if a.status not in allowed]
    assert not unexpected, f"{len(unexpected)} unexpected answers, e.g. {unexpected[:3]}"
    outages = [a for a in answers if a.status == 503]
    bad = [a for a in outages if a.json_error != "SERVICE_UNAVAILABLE" or not a.retry_after]
    assert not bad, f"503s without the JSON error and Retry-After, e.g. {bad[:3]}"


def recovery(load: Load, phase: str, back_at: float) -> str:
    """Seconds from ``back_at`` to the first 200, and to the last 503, among requests started after it."""
    after = sorted((a for a in load.of(phase) if a.started >= back_at), key=lambda a: a.started)
    first_ok = next((a.started + a.seconds for a in after if a.status == 200), None)
    last_503 = max((a.started + a.seconds for a in after if a.status == 503), default=back_at)
    assert first_ok is not None, "no request succeeded after the service came back"
    return f"{first_ok - back_at:.2f} s / {max(0.0, last_503 - back_at):.2f} s"


def wait_for_200(stack: Stack, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if request(stack.port, "/analytics/usage-summary", stack.tokens["acme"])[0] == 200:
            return
        time.sleep(0.2)
    raise AssertionError(f"the API did not answer 200 within {seconds} s")


def test_steady_load_gets_only_designed_answers(stack, load, report):
    workers = stack.worker_pids()
    run_phase(load, "steady load", STEADY_SECONDS)
    answers = load.of("steady load")
    report.phase("steady load", answers, workers="same" if stack.worker_pids() == workers else "changed")
    assert_only_designed_answers(answers, DESIGNED)
    assert stack.worker_pids() == workers


def test_redis_stopped_and_started_under_load_costs_nothing_and_caching_resumes(stack, load, report):
    workers = stack.worker_pids()
    load.phase = "Redis stopped"
    stack.redis.stop()
    time.sleep(FAULT_SECONDS)
    stack.redis.start()
    back = time.monotonic()
    client = redis.Redis.from_url(stack.redis.url)
    deadline = time.monotonic() + 30
    while not client.keys("analytics:*") and time.monotonic() < deadline:
        time.sleep(0.2)
    resumed = time.monotonic() - back
    time.sleep(1)
    answers = load.of("Redis stopped")
    report.phase(
        "Redis stopped, then started", answers, recovery=f"caching resumed after {resumed:.1f} s",
        workers="same" if stack.worker_pids() == workers else "changed",
    )
    assert_only_designed_answers(answers, DESIGNED)
    assert client.keys("analytics:*"), "nothing was cached again after Redis came back"
    assert stack.worker_pids() == workers


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        ("PostgreSQL stopped (fast)", "stop"),
        ("PostgreSQL crashed (-m immediate)", "crash"),
        ("PostgreSQL frozen (SIGSTOP)", "freeze"),
    ],
    ids=["stopped", "crashed", "frozen"],
)
def test_postgresql_failing_under_load_answers_only_json_503_and_recovers(stack, load, report, name, fault):
    wait_for_200(stack)
    workers = stack.worker_pids()
    load.phase = name
    time.sleep(1)
    frozen: list[int] = []
    if fault == "freeze":
        frozen = stack.postgres.freeze()
    else:
        getattr(stack.postgres, fault)()
    time.sleep(FROZEN_SECONDS if fault == "freeze" else FAULT_SECONDS)
    if fault == "freeze":
        stack.postgres.thaw(frozen)
    else:
        stack.postgres.start()
    back = time.monotonic()
    wait_for_200(stack)
    time.sleep(3)
    answers = load.of(name)
    entry = report.phase(
        name, answers, recovery=recovery(load, name, back),
        workers="same" if stack.worker_pids() == workers else "changed",
    )
    assert_only_designed_answers(answers, DESIGNED | {503})
    assert entry["statuses"].get("503"), "the fault never reached a request"
    assert stack.worker_pids() == workers, "a worker was killed"


def test_connections_terminated_under_load_never_give_an_html_500(stack, load, report):
    """pg_terminate_backend of every application connection, ten times a second."""
    wait_for_200(stack)
    workers = stack.worker_pids()
    name = "connections terminated (10/s)"
    load.phase = name
    admin = sa.create_engine(stack.database_url, isolation_level="AUTOCOMMIT")
    terminated = 0
    with admin.connect() as conn:
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline:
            terminated += conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            time.sleep(0.1)
    admin.dispose()
    back = time.monotonic()
    time.sleep(2)
    answers = load.of(name)
    report.phase(
        name, answers, recovery=recovery(load, name, back), connections_terminated=terminated,
        workers="same" if stack.worker_pids() == workers else "changed",
    )
    assert terminated > 0
    assert_only_designed_answers(answers, DESIGNED | {503})
    assert stack.worker_pids() == workers


def test_load_ends_without_a_single_connection_error(load, report):
    load.stop()  # the aggregation and schemathesis run on a quiet stack
    failures = [a for a in load.answers if a.status is None]
    server_errors = [a for a in load.answers if a.status is not None and a.status >= 500 and a.status != 503]
    report.sections["totals"] = {
        "requests": len(load.answers),
        "no_answer": len(failures),
        "other_5xx": len(server_errors),
    }
    assert not failures, failures[:3]
    assert not server_errors, server_errors[:3]


# -- the aggregation ------------------------------------------------------------------------


def _aggregates_equal_sums(engine: sa.Engine) -> dict[date, bool]:
    """Per day: do the stored aggregates equal the sums of usage_events (ledgered days only)?"""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                """
                WITH sums AS (
                    SELECT tenant_id, agent_id, date, metric_type, sum(count) AS total
                    FROM usage_events GROUP BY tenant_id, agent_id, date, metric_type
                ), diff AS (
                    SELECT coalesce(s.date, a.date) AS date
                    FROM sums s FULL JOIN analytics_daily_aggregates a
                      ON a.tenant_id = s.tenant_id AND a.agent_id IS NOT DISTINCT FROM s.agent_id
                     AND a.date = s.date AND a.metric_type = s.metric_type
                    WHERE s.total IS DISTINCT FROM a.count
                )
                SELECT l.date, NOT EXISTS (SELECT 1 FROM diff d WHERE d.date = l.date)
                FROM {LEDGER_TABLE} l
                """.replace("{LEDGER_TABLE}", LEDGER_TABLE)
            )
        ).all()
    return {d: ok for d, ok in rows}


def _snapshot(engine: sa.Engine) -> dict[date, set[tuple]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT date, tenant_id, agent_id, metric_type, count FROM analytics_daily_aggregates")
        ).all()
    days: dict[date, set[tuple]] = {}
    for row in rows:
        days.setdefault(row[0], set()).add(tuple(row[1:]))
    return days


def test_the_aggregation_killed_at_random_points_leaves_nothing_partial(stack, report):
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        days = [r[0] for r in conn.execute(sa.text(f"SELECT date FROM {LEDGER_TABLE} ORDER BY date"))]
    first, last = days[0].isoformat(), days[-1].isoformat()
    command = [sys.executable, "-m", "flask", "analytics", "aggregate", "--from", first, "--to", last]
    started = time.monotonic()
    subprocess.run(command, env=stack.env(), cwd=stack.workdir, capture_output=True, timeout=600, check=True)
    full_run = time.monotonic() - started  # kills land anywhere in a run, whatever the machine's speed
    with engine.begin() as conn:
        # Late events on every day, so a day half redone would differ from both its old and its new sums.
        conn.execute(sa.text("UPDATE usage_events SET count = count + 1 WHERE metric_type = 'api_calls'"))
    before = _snapshot(engine)
    rng = random.Random(11)
    kills, timings = 0, []
    for _ in range(10):
        process = subprocess.Popen(
            command, env=stack.env(), cwd=stack.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        delay = rng.uniform(0.3, 0.95) * full_run
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            timings.append(round(delay, 2))
        after = _snapshot(engine)
        sums = _aggregates_equal_sums(engine)
        for day in days:
            # Each day is whole: its old aggregates, or exactly the new sums.
            assert after.get(day) == before.get(day) or sums.get(day), f"{day} is partly aggregated"
    completed = subprocess.run(
        command,
        env=stack.env(), cwd=stack.workdir, capture_output=True, text=True, timeout=600, check=True,
    )
    sums = _aggregates_equal_sums(engine)
    engine.dispose()
    report.sections.setdefault("aggregation", {}).update(
        days=len(days),
        full_run_s=round(full_run, 2),
        kills=kills,
        kill_times_s=timings,
        days_equal_to_sums_after_a_full_run=sum(sums.values()),
    )
    assert kills >= 8, f"only {kills} runs were still going when killed"
    assert all(sums.get(day) for day in days), completed.stdout


def test_the_aggregation_run_twice_at_once_counts_nothing_twice(stack, report):
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as conn:
        days = [r[0] for r in conn.execute(sa.text(f"SELECT date FROM {LEDGER_TABLE} ORDER BY date"))]
    yesterday = date.today() - timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE usage_events SET count = count + 2 WHERE date = :d"), {"d": yesterday})
    command = [sys.executable, "-m", "flask", "analytics", "aggregate", "--from", days[0].isoformat(),
               "--to", days[-1].isoformat()]
    runs = [
        subprocess.Popen(
            command, env=stack.env(), cwd=stack.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    codes = [run.returncode for run in runs]
    skipped = [out for code, out in zip(codes, outputs, strict=True) if code != 0]
    sums = _aggregates_equal_sums(engine)
    engine.dispose()
    report.sections.setdefault("aggregation", {}).update(
        concurrent_runs=2,
        concurrent_runs_skipped_by_the_lock=len(skipped),
        days_equal_to_sums_after_concurrent_runs=sum(sums.values()),
    )
    assert 0 in codes, outputs
    # The other one either found the lock taken (the CLI says so and exits 1) or ran after.
    assert all("Another process is aggregating" in out for out in skipped), outputs
    assert all(sums.get(day) for day in days)


# -- generated requests ---------------------------------------------------------------------


def _operations(spec: Path) -> int:
    """The API's operations in the OpenAPI document: one per path and HTTP method."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    paths = yaml.safe_load(spec.read_text())["paths"]
    return sum(1 for item in paths.values() for method in item if method in methods)


def test_schemathesis_sends_1000_generated_requests_per_operation_without_a_5xx(stack, report):
    schemathesis = str(Path(sys.executable).parent / "schemathesis")
    spec = ROOT / "docs" / "openapi.yaml"
    operations = _operations(spec)
    started = time.monotonic()
    result = subprocess.run(
        [
            schemathesis, "run", str(spec),
            "--url", f"http://127.0.0.1:{stack.port}",
            "--header", f"Authorization: Bearer {stack.tokens['acme']}",
            "--checks", "all",
            "--exclude-checks", "positive_data_acceptance,negative_data_rejection",
            "--max-examples", "1000",
            "--mode", "positive",
            "--seed", "7",
            "--no-color",
            # As many requests in flight as gunicorn has workers: the server's cores, not one
            # request at a time, bound the run.
            "--workers", str(WORKERS),
        ],
        capture_output=True, text=True, timeout=900, check=False, cwd=stack.workdir,
    )
    cases = count_schemathesis_cases(result.stdout)
    report.sections["schemathesis"] = {
        "operations": operations,
        "generated_requests": cases,
        "seconds": round(time.monotonic() - started, 1),
        "result": "passed" if result.returncode == 0 else "failed",
    }
    assert result.returncode == 0, result.stdout[-4000:]
    assert cases is not None and cases >= 1000 * operations, result.stdout[-2000:]
