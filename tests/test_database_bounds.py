"""Every database wait of a request is bounded: a hung PostgreSQL answers 503 in seconds, never holds a worker.

A PostgreSQL of the test's own is frozen (SIGSTOP of the postmaster and every
backend: connections stay open and nothing answers, which no server-side
timeout can catch) or has a table locked, and requests must come back as the
JSON 503 within the configured bound; the host's resolver, which runs on the
host's engine before any plugin query, is bounded too. Requests run in a
thread so that a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from services import PostgresInstance

from agentidp_analytics_plugin import errors
from api_fixtures import Api, days_ago
from host_app import HostData, create_host_app, upgrade_schema
from testenv import BACKENDS

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")

#: The bounds these tests configure: the client cuts a round trip after 1 + 1 s.
BOUNDS = {
    "ANALYTICS_DB_STATEMENT_TIMEOUT": 1,
    "ANALYTICS_DB_LOCK_TIMEOUT": 0.5,
    "ANALYTICS_DB_CONNECT_TIMEOUT": 2,
    "ANALYTICS_DB_POOL_TIMEOUT": 1,
    "ANALYTICS_JOB_STATEMENT_TIMEOUT": 2,
}
#: Far above the bounds (one cut round trip, one refused connect), far below "for ever".
PATIENCE = 20.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresInstance]:
    instance = PostgresInstance().init()
    instance.start()
    yield instance
    instance.destroy()


@pytest.fixture
def bounded(postgres: PostgresInstance) -> Iterator[tuple[Flask, str]]:
    engine = sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_host_app(postgres.url, **BOUNDS)
    upgrade_schema(app)
    host = HostData(app)
    tenant = host.tenant()
    agent = host.agent(tenant)
    host.events([(tenant, agent, days_ago(1), "api_calls", 5)])
    Api(app).aggregate([days_ago(1)])
    yield app, host.token(tenant)
    with app.app_context():
        app.extensions["sqlalchemy"].session.remove()
        app.extensions["sqlalchemy"].engine.dispose()


def timed_call(fn: Any, patience: float = PATIENCE) -> tuple[Any, float]:
    """Run ``fn`` in a thread; its result (or exception) and seconds taken, or fail past ``patience``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(patience)
    assert not thread.is_alive(), f"still waiting on the database after {patience} s"
    return outcome.get("value", outcome.get("error")), time.monotonic() - started


def summary(app: Flask, token: str) -> Any:
    return app.test_client().get("/analytics/usage-summary", headers={"Authorization": f"Bearer {token}"})


def assert_outage(response: Any) -> None:
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == errors.SERVICE_UNAVAILABLE
    assert response.headers["Retry-After"] == str(errors.OUTAGE_RETRY_AFTER)


def test_a_frozen_database_answers_503_with_retry_after(bounded, postgres):
    app, token = bounded
    assert summary(app, token).status_code == 200  # pools warm: the freeze meets open connections
    frozen = postgres.freeze()
    try:
        response, _ = timed_call(lambda: summary(app, token))
    finally:
        postgres.thaw(frozen)
    assert_outage(response)


def test_while_frozen_every_request_answers_503_including_new_connections(bounded, postgres):
    app, token = bounded
    assert summary(app, token).status_code == 200
    frozen = postgres.freeze()
    try:
        # The first cut invalidates the pools: the next requests must connect, and the
        # frozen postmaster accepts the TCP connection but never answers the startup.
        responses = [timed_call(lambda: summary(app, token))[0] for _ in range(3)]
    finally:
        postgres.thaw(frozen)
    for response in responses:
        assert_outage(response)


def test_after_a_freeze_requests_succeed_again_without_restart(bounded, postgres):
    app, token = bounded
    assert summary(app, token).status_code == 200
    frozen = postgres.freeze()
    try:
        assert_outage(timed_call(lambda: summary(app, token))[0])
    finally:
        postgres.thaw(frozen)
    response = summary(app, token)
    assert response.status_code == 200
    assert response.get_json()["summary"]["totalApiCalls"] == 5


def test_a_tab_panel_on_a_frozen_database_shows_the_outage_inline(bounded, postgres):
    app, _ = bounded
    with app.app_context():
        tenant = app.extensions["sqlalchemy"].session.execute(sa.text("SELECT id FROM tenants")).scalar()
        app.extensions["sqlalchemy"].session.remove()
    client = app.test_client()
    with client.session_transaction() as session:
        session["tenant_id"] = str(tenant)
    assert client.get("/analytics/fragments/summary", headers={"HX-Request": "true"}).status_code == 200
    frozen = postgres.freeze()
    try:
        response, _ = timed_call(lambda: client.get("/analytics/fragments/summary", headers={"HX-Request": "true"}))
    finally:
        postgres.thaw(frozen)
    assert response.status_code == 200
    assert "unavailable right now" in response.get_data(as_text=True)


def test_a_locked_table_answers_503_after_the_lock_timeout(bounded, postgres):
    """The server is alive: its own lock_timeout cancels the query, and the connection survives."""
    app, token = bounded
    locker = sa.create_engine(postgres.url)
    with locker.connect() as conn:
        # The tables the summary reads: the roll-up of days, and the aggregates under it.
        conn.execute(sa.text("LOCK TABLE analytics_tenant_daily, analytics_daily_aggregates IN ACCESS EXCLUSIVE MODE"))
        response, _ = timed_call(lambda: summary(app, token))
        conn.rollback()
    locker.dispose()
    assert_outage(response)
    assert summary(app, token).status_code == 200


def test_a_frozen_database_fails_the_job_within_its_own_bound(bounded, postgres):
    app, _ = bounded
    state = app.extensions["agentidp_analytics"]

    def aggregate() -> Any:
        with app.app_context():
            return state.aggregate([days_ago(2)])

    frozen = postgres.freeze()
    try:
        outcome, _ = timed_call(aggregate)
    finally:
        postgres.thaw(frozen)
    assert isinstance(outcome, sa.exc.OperationalError)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ANALYTICS_DB_STATEMENT_TIMEOUT", 0),
        ("ANALYTICS_DB_CONNECT_TIMEOUT", -1),
        ("ANALYTICS_JOB_LOCK_TIMEOUT", "soon"),
    ],
    ids=["zero", "negative", "text"],
)
def test_bounds_must_be_positive_numbers_of_seconds(tmp_path: Path, key, value):
    with pytest.raises(ValueError, match=key):
        create_host_app(f"sqlite:///{tmp_path / 'x.sqlite'}", **{key: value})


def test_bounds_from_the_environment_are_read_as_numbers(tmp_path: Path):
    app = create_host_app(f"sqlite:///{tmp_path / 'x.sqlite'}", ANALYTICS_JOB_LOCK_TIMEOUT="5")
    assert app.config["ANALYTICS_JOB_LOCK_TIMEOUT"] == 5
