"""Fixtures for the JSON API tests: an app on the test database with Redis
for the cache and the rate limits, a seeded scenario, and a statement counter.

Loaded from ``tests/conftest.py`` through ``pytest_plugins``. Redis db 15 is
flushed before and after each test that uses it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from agentidp_analytics_plugin.aggregation import utc_today
from agentidp_analytics_plugin.state import get_state
from host_app import HostData


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    from testenv import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def api_config(redis_client: redis.Redis) -> dict[str, Any]:
    """Production-like settings: Redis cache and shared rate-limit storage."""
    from testenv import REDIS_URL

    return {
        "ANALYTICS_CACHE_REDIS_URL": REDIS_URL,
        "ANALYTICS_RATELIMIT_STORAGE_URI": REDIS_URL,
        "ANALYTICS_RATELIMIT": "1000 per minute",
        "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "1000 per minute",
    }


@pytest.fixture
def api_app(make_app: Callable[..., Flask], api_config: dict[str, Any]) -> Flask:
    return make_app(**api_config)


@pytest.fixture
def api_host(api_app: Flask) -> HostData:
    return HostData(api_app)


@pytest.fixture
def api(api_app: Flask) -> Api:
    return Api(api_app)


class Api:
    """GETs against the analytics API with a Bearer token, as an external client does."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client: FlaskClient = app.test_client()

    def get(self, endpoint: str, token: str | None = None, **params: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        query = {("from" if k == "from_" else k): v for k, v in params.items() if v is not None}
        return self.client.get(f"/analytics/{endpoint}", query_string=query, headers=headers)

    def ok(self, endpoint: str, token: str, **params: Any) -> dict[str, Any]:
        response = self.get(endpoint, token, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def aggregate(self, days: list[date]) -> None:
        with self.app.app_context():
            report = get_state(self.app).aggregate(days=days)
        assert report.ok, report.failed


@dataclass
class Scenario:
    """A tenant with agents and usage on known days (all before today, UTC)."""

    tenant: uuid.UUID
    token: str
    agents: dict[str, uuid.UUID] = field(default_factory=dict)
    days: list[date] = field(default_factory=list)


def days_ago(n: int) -> date:
    return utc_today() - timedelta(days=n)


def findings(api: Api, scenario: Scenario, kind: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """The insights endpoint's findings for the scenario's tenant, those of ``kind`` only when given."""
    body = api.ok("insights", scenario.token, **params)
    return [f for f in body["insights"] if kind is None or f["kind"] == kind]


@pytest.fixture
def seed(api_host: HostData, api: Api) -> Callable[..., Scenario]:
    """Build a tenant from ``rows`` of (agent name or None, days ago, metric, count), aggregated."""

    def build(rows: list[tuple[str | None, int, str, int]], tier: str = "pro") -> Scenario:
        tenant = api_host.tenant(tier=tier)
        scenario = Scenario(tenant=tenant, token=api_host.token(tenant))
        for name in sorted({r[0] for r in rows if r[0]}):
            scenario.agents[name] = api_host.agent(tenant, name=name)
        api_host.events(
            [
                (tenant, scenario.agents.get(name) if name else None, days_ago(n), metric, count)
                for name, n, metric, count in rows
            ]
        )
        scenario.days = sorted({days_ago(n) for _, n, _, _ in rows})
        if scenario.days:
            api.aggregate(scenario.days)
        return scenario

    return build


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def analytics(self) -> list[str]:
        """Statements of the plugin (the host's own token lookup is not the plugin's to cache)."""
        return [s for s in self.statements if "analytics_" in s or " agents" in s]

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


@contextmanager
def count_statements(app: Flask) -> Iterator[StatementCounter]:
    """Record every SQL statement the host's and the plugin's engines send while the block runs."""
    counter = StatementCounter()
    with app.app_context():
        engines = app.extensions["agentidp_analytics"].engines
        watched = {app.extensions["sqlalchemy"].engine, engines.reads, engines.writes}
    for engine in watched:
        sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in watched:
            sa.event.remove(engine, "before_cursor_execute", counter)
