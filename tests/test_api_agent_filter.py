"""agentId on usage-summary and token-trends: the spec's agent filter, extended to every endpoint."""

from __future__ import annotations

import uuid

import pytest

from api_fixtures import count_statements, days_ago

NARROWED = ["usage-summary", "token-trends"]

MIXED = [
    ("alpha", 3, "api_calls", 100),
    ("alpha", 3, "token_issuances", 7),
    ("alpha", 2, "token_failures", 2),
    ("alpha", 1, "credential_rotations", 1),
    ("beta", 2, "api_calls", 300),
    ("beta", 2, "token_issuances", 9),
    (None, 2, "api_calls", 40),
    (None, 2, "token_issuances", 5),
]


def test_the_summary_of_one_agent_counts_only_its_usage(api, seed):
    s = seed(MIXED)
    body = api.ok("usage-summary", s.token, from_=days_ago(9).isoformat(), agentId=str(s.agents["alpha"]))
    assert body["summary"] == {
        "totalApiCalls": 100,
        "totalTokenIssuances": 7,
        "totalCredentialRotations": 1,
        "activeAgentCount": 1,
        "averageDailyApiCalls": 10,
        "peakDailyApiCalls": 100,
        "peakDate": days_ago(3).isoformat(),
    }


def test_the_trends_of_one_agent_count_only_its_issuances(api, seed):
    s = seed(MIXED)
    body = api.ok("token-trends", s.token, from_=days_ago(3).isoformat(), agentId=str(s.agents["alpha"]))
    points = {p["date"]: p for p in body["dataPoints"]}
    assert points[days_ago(3).isoformat()] == {
        "date": days_ago(3).isoformat(),
        "totalIssuances": 7,
        "successfulIssuances": 7,
        "failedIssuances": 0,
        "uniqueAgents": 1,
    }
    assert points[days_ago(2).isoformat()]["failedIssuances"] == 2  # beta's 9 and the tenant's 5 left out
    assert points[days_ago(2).isoformat()]["successfulIssuances"] == 0
    assert len(points) == 4  # still dense


@pytest.mark.parametrize("endpoint", NARROWED)
def test_an_idle_agent_gets_zeros_not_a_404(api, api_host, seed, endpoint):
    s = seed(MIXED)
    idle = api_host.agent(s.tenant, name="idle")
    body = api.ok(endpoint, s.token, agentId=str(idle))
    if endpoint == "usage-summary":
        assert not any(body["summary"].values())
    else:
        assert body["dataPoints"] and not any(p["totalIssuances"] or p["uniqueAgents"] for p in body["dataPoints"])


@pytest.mark.parametrize("endpoint", NARROWED)
def test_the_response_keeps_the_specs_fields(api, seed, endpoint):
    s = seed(MIXED)
    narrowed = api.ok(endpoint, s.token, agentId=str(s.agents["beta"]))
    assert list(narrowed) == list(api.ok(endpoint, s.token))


@pytest.mark.parametrize("endpoint", NARROWED)
def test_agent_of_another_tenant_and_unknown_agent_get_the_same_404(api, seed, endpoint):
    mine = seed(MIXED)
    other = seed([("secret", 2, "api_calls", 1)])
    foreign = api.get(endpoint, mine.token, agentId=str(other.agents["secret"]))
    unknown = api.get(endpoint, mine.token, agentId=str(uuid.uuid4()))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json() == unknown.get_json()
    assert foreign.get_json()["error"]["code"] == "AGENT_NOT_FOUND"


@pytest.mark.parametrize("endpoint", NARROWED)
@pytest.mark.parametrize("agent_id", ["not-a-uuid", "", "1" * 1000], ids=["word", "empty", "long"])
def test_a_malformed_agent_id_is_a_400(api, seed, endpoint, agent_id):
    s = seed(MIXED)
    response = api.get(endpoint, s.token, agentId=agent_id)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_AGENT_ID"


@pytest.mark.parametrize("endpoint", NARROWED)
def test_each_agent_and_the_whole_tenant_are_cached_apart(api, api_app, seed, redis_client, endpoint):
    s = seed(MIXED)
    whole = api.ok(endpoint, s.token)
    alpha = api.ok(endpoint, s.token, agentId=str(s.agents["alpha"]))
    beta = api.ok(endpoint, s.token, agentId=str(s.agents["beta"]))
    assert len({str(whole), str(alpha), str(beta)}) == 3
    assert len(redis_client.keys(f"analytics:{s.tenant}:{endpoint}:*")) == 3
    with count_statements(api_app) as counter:
        assert api.ok(endpoint, s.token, agentId=str(s.agents["alpha"])) == alpha
    assert counter.analytics == []
