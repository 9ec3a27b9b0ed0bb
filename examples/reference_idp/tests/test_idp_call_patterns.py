"""The reference host's API calls go through the plugin's call-pattern hook; the demo has history.

The plugin is loaded (as the repository's test run has it installed); counts
are shipped from the process buffer straight into the table (no Redis here).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from idp_helpers import make_agent, make_tenant

from reference_idp.extensions import db
from reference_idp.seed import OUTAGE_DAYS_AGO, RETIRED_PATH_AGENT

pytestmark = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index"
)


@pytest.fixture
def host(make_host: Callable[..., Flask]) -> Flask:
    """The reference host with the plugin, both schemas at head."""
    app = make_host(
        "analytics", ANALYTICS_SCHEDULER_ENABLED=False, ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS=3600
    )
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["analytics", "db", "upgrade"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    return app


def _counted(app: Flask) -> dict[tuple, int]:
    state = app.extensions["agentidp_analytics"]
    assert state.call_patterns.counts.ship()
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT agent_id, method, route, status_class, SUM(calls) "
                "FROM analytics_call_patterns GROUP BY agent_id, method, route, status_class"
            )
        ).all()
    return {(uuid.UUID(str(a)) if a else None, m, r, s): int(c) for a, m, r, s, c in rows}


def _signed_in_agent(app: Flask) -> tuple[uuid.UUID, str, str, str]:
    with app.app_context():
        issued = make_agent(make_tenant(), "reporter")
        agent_id, client_id = issued.agent.id, issued.agent.client_id
    token = app.test_client().post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": issued.client_secret,
        },
    )
    return agent_id, client_id, issued.client_secret, token.get_json()["access_token"]


def test_agent_api_and_token_calls_count_per_route_template_and_agent(host):
    agent, client_id, _, access = _signed_in_agent(host)
    client = host.test_client()
    auth = {"Authorization": f"Bearer {access}"}
    for _ in range(3):
        assert client.get("/api/v1/agents/me", headers=auth).status_code == 200
    assert client.get("/api/v1/agents/me/credentials", headers=auth).status_code == 200
    assert client.get("/api/v1/no-such-thing/42", headers=auth).status_code == 404
    refused = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"},
    )
    assert refused.status_code == 401
    assert _counted(host) == {
        (agent, "POST", "/oauth/token", "2xx"): 1,
        (agent, "POST", "/oauth/token", "4xx"): 1,
        (agent, "GET", "/api/v1/agents/me", "2xx"): 3,
        (agent, "GET", "/api/v1/agents/me/credentials", "2xx"): 1,
        (agent, "GET", "<unmatched>", "4xx"): 1,
    }


def test_calls_nobody_authenticated_and_dashboard_pages_are_not_counted(host):
    client = host.test_client()
    client.get("/api/v1/agents/me")
    client.get("/api/v1/agents/me", headers={"Authorization": "Bearer nope"})
    client.get("/login")
    client.get("/analytics/usage-summary")
    assert _counted(host) == {}


def test_the_demo_seed_has_noisy_endpoints_and_a_token_outage(host):
    result = host.test_cli_runner().invoke(args=["idp", "seed-demo"])
    assert result.exit_code == 0, result.output
    with host.app_context(), db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.slug, c.route, c.status_class, c.date, SUM(c.calls) "
                "FROM analytics_call_patterns c JOIN tenants t ON t.id = c.tenant_id "
                "GROUP BY t.slug, c.route, c.status_class, c.date"
            )
        ).all()
        retired_agents = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT a.name FROM analytics_call_patterns c "
                    "JOIN agents a ON a.id = c.agent_id WHERE c.route = '<unmatched>'"
                )
            )
            .scalars()
            .all()
        )
    routes = {r[1] for r in rows}
    assert {
        "/api/v1/agents/me",
        "/api/v1/agents/me/credentials",
        "/oauth/token",
        "<unmatched>",
    } <= routes
    outage = {
        dt.date.fromisoformat(str(day)[:10])
        for slug, route, status, day, _ in rows
        if route == "/oauth/token" and status == "5xx"
    }
    last = max(dt.date.fromisoformat(str(r[3])[:10]) for r in rows)
    assert outage == {last - dt.timedelta(days=n - 1) for n in OUTAGE_DAYS_AGO}
    assert {
        slug for slug, route, status, _, _ in rows if route == "/oauth/token" and status == "5xx"
    } == {"acme"}
    assert set(retired_agents) == {RETIRED_PATH_AGENT}
