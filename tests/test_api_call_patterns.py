"""GET /analytics/call-patterns: per-endpoint calls, errors, latency, busiest agents and a daily series.

Counts are added the way the flush adds them (:func:`apply_batch`), so the
endpoint reads exactly what the request hook would have produced.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from agentidp_analytics_plugin.call_flush import apply_batch
from agentidp_analytics_plugin.state import get_state
from api_fixtures import days_ago

ROUTE = "/api/agents/<uuid:agent_id>/credentials"
TOKEN_ROUTE = "/oauth/token"


@pytest.fixture
def counted(api_app):
    """Add (agent or None, days ago, method, route, status class, calls, latency ms) rows for a tenant."""

    def add(tenant: uuid.UUID, rows: list[tuple[uuid.UUID | None, int, str, str, str, int, float]]) -> None:
        buckets: dict = {}
        for agent, ago, method, route, status, calls, latency in rows:
            key = (tenant, agent, days_ago(ago), method, route, status)
            buckets[key] = [calls, latency]
        state = get_state(api_app)
        report = apply_batch(state.engine, state.tables, f"test:{uuid.uuid4().hex}", buckets)
        assert report.applied == 1

    return add


def _endpoint(body: dict, method: str, route: str) -> dict:
    (found,) = [e for e in body["endpoints"] if (e["method"], e["route"]) == (method, route)]
    return found


def test_each_endpoint_has_its_calls_errors_rate_share_and_mean_latency(api, seed, counted):
    s = seed([])
    counted(
        s.tenant,
        [
            (None, 1, "GET", ROUTE, "2xx", 60, 600.0),
            (None, 2, "GET", ROUTE, "4xx", 15, 150.0),
            (None, 2, "GET", ROUTE, "5xx", 5, 250.0),
            (None, 1, "POST", TOKEN_ROUTE, "2xx", 20, 100.0),
        ],
    )
    body = api.ok("call-patterns", s.token)
    assert body["totalCalls"] == 100
    assert [(e["method"], e["route"]) for e in body["endpoints"]] == [("GET", ROUTE), ("POST", TOKEN_ROUTE)]
    busiest = _endpoint(body, "GET", ROUTE)
    assert {
        k: busiest[k] for k in ("calls", "clientErrors", "serverErrors", "errorRate", "share", "meanLatencyMs")
    } == {
        "calls": 80,
        "clientErrors": 15,
        "serverErrors": 5,
        "errorRate": 0.25,
        "share": 0.8,
        "meanLatencyMs": 12.5,
    }


def test_the_daily_series_has_every_day_of_the_period_zeros_included(api, seed, counted):
    s = seed([])
    counted(s.tenant, [(None, 2, "GET", ROUTE, "2xx", 3, 3.0), (None, 2, "GET", ROUTE, "5xx", 1, 1.0)])
    body = api.ok("call-patterns", s.token, from_=days_ago(3).isoformat(), to=days_ago(1).isoformat())
    assert _endpoint(body, "GET", ROUTE)["daily"] == [
        {"date": days_ago(3).isoformat(), "calls": 0, "clientErrors": 0, "serverErrors": 0},
        {"date": days_ago(2).isoformat(), "calls": 4, "clientErrors": 0, "serverErrors": 1},
        {"date": days_ago(1).isoformat(), "calls": 0, "clientErrors": 0, "serverErrors": 0},
    ]


def test_top_agents_are_the_five_busiest_with_names_and_no_agentless_calls(api, seed, counted, api_host):
    s = seed([])
    agents = [api_host.agent(s.tenant, f"agent-{i}") for i in range(7)]
    counted(
        s.tenant,
        [(agent, 1, "GET", ROUTE, "2xx", 10 + i, 1.0) for i, agent in enumerate(agents)]
        + [(None, 1, "GET", ROUTE, "2xx", 1000, 1.0)],
    )
    top = _endpoint(api.ok("call-patterns", s.token), "GET", ROUTE)["topAgents"]
    assert top == [{"agentId": str(agents[i]), "agentName": f"agent-{i}", "calls": 10 + i} for i in (6, 5, 4, 3, 2)]


def test_agent_id_narrows_to_that_agents_calls(api, seed, counted, api_host):
    s = seed([])
    mine, other = api_host.agent(s.tenant, "mine"), api_host.agent(s.tenant, "other")
    counted(s.tenant, [(mine, 1, "GET", ROUTE, "2xx", 4, 4.0), (other, 1, "POST", TOKEN_ROUTE, "4xx", 9, 9.0)])
    body = api.ok("call-patterns", s.token, agentId=str(mine))
    assert body["totalCalls"] == 4
    assert [(e["method"], e["route"], e["calls"]) for e in body["endpoints"]] == [("GET", ROUTE, 4)]


def test_another_tenants_agent_is_not_found(api, seed, api_host):
    s, stranger = seed([]), seed([])
    foreign = api_host.agent(stranger.tenant, "theirs")
    response = api.get("call-patterns", s.token, agentId=str(foreign))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "AGENT_NOT_FOUND"


def test_a_malformed_agent_id_is_refused(api, seed):
    response = api.get("call-patterns", seed([]).token, agentId="nope")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "INVALID_AGENT_ID"


@pytest.mark.parametrize(("days", "status"), [(90, 200), (91, 400)])
def test_the_period_holds_at_most_90_days(api, seed, days, status):
    response = api.get(
        "call-patterns", seed([]).token, from_=days_ago(days - 1).isoformat(), to=days_ago(0).isoformat()
    )
    assert response.status_code == status
    if status == 400:
        assert response.get_json()["error"]["code"] == "INVALID_DATE_RANGE"


def test_other_tenants_and_days_outside_the_period_are_not_counted(api, seed, counted):
    s, stranger = seed([]), seed([])
    counted(s.tenant, [(None, 1, "GET", ROUTE, "2xx", 2, 2.0), (None, 40, "GET", ROUTE, "2xx", 50, 2.0)])
    counted(stranger.tenant, [(None, 1, "GET", ROUTE, "2xx", 70, 2.0)])
    assert api.ok("call-patterns", s.token)["totalCalls"] == 2


def test_a_deleted_agents_calls_stay_in_the_totals_without_a_name(api, seed, counted, api_host):
    s = seed([])
    gone = api_host.agent(s.tenant, "gone")
    counted(s.tenant, [(gone, 1, "GET", ROUTE, "2xx", 3, 3.0)])
    api_host.delete_agent(gone)
    body = api.ok("call-patterns", s.token)
    assert body["totalCalls"] == 3
    assert _endpoint(body, "GET", ROUTE)["topAgents"] == [{"agentId": str(gone), "agentName": "", "calls": 3}]


def test_no_counts_answer_an_empty_list(api, seed):
    body = api.ok("call-patterns", seed([]).token)
    assert (body["totalCalls"], body["endpoints"]) == (0, [])


def test_answers_are_cached_under_their_own_key_and_ttl(api, seed, counted, redis_client):
    s = seed([])
    counted(s.tenant, [(None, 1, "GET", ROUTE, "2xx", 2, 2.0)])
    api.ok("call-patterns", s.token)
    (key,) = redis_client.keys(f"analytics:{s.tenant}:call-patterns:*")
    assert 0 < redis_client.ttl(key) <= 60
    counted(s.tenant, [(None, 1, "GET", ROUTE, "2xx", 5, 2.0)])
    assert api.ok("call-patterns", s.token)["totalCalls"] == 2  # served from the cache


def test_unauthenticated_and_free_tier_calls_are_refused(api, seed):
    assert api.get("call-patterns").status_code == 401
    assert api.get("call-patterns", seed([], tier="free").token).status_code == 403


def test_the_period_is_echoed(api, seed):
    body = api.ok("call-patterns", seed([]).token, from_="2026-01-01", to="2026-01-31")
    assert body["period"] == {"from": date(2026, 1, 1).isoformat(), "to": "2026-01-31"}
