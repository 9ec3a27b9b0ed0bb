"""GET /analytics/agent-activity: per-agent daily rows for the heatmap."""

from __future__ import annotations

import uuid

import pytest

from api_fixtures import days_ago


def _day(n: int, api_calls: int = 0, issuances: int = 0, rotations: int = 0) -> dict:
    return {
        "date": days_ago(n).isoformat(),
        "apiCalls": api_calls,
        "tokenIssuances": issuances,
        "credentialRotations": rotations,
    }


def test_agent_activity_returns_per_agent_daily_rows_matching_the_aggregates(api, seed):
    s = seed(
        [
            ("alpha", 3, "api_calls", 5),
            ("alpha", 3, "token_issuances", 2),
            ("alpha", 1, "credential_rotations", 1),
            ("beta", 2, "api_calls", 100),
        ]
    )
    body = api.ok("agent-activity", s.token)
    assert body["tenantId"] == str(s.tenant)
    assert body["agents"] == [
        {"agentId": str(s.agents["beta"]), "agentName": "beta", "dailyActivity": [_day(2, api_calls=100)]},
        {
            "agentId": str(s.agents["alpha"]),
            "agentName": "alpha",
            "dailyActivity": [_day(3, api_calls=5, issuances=2), _day(1, rotations=1)],
        },
    ]


def test_activity_is_sparse_and_ignores_tenant_wide_rows(api, seed):
    s = seed([(None, 2, "api_calls", 50), ("alpha", 4, "api_calls", 1)])
    agents = api.ok("agent-activity", s.token)["agents"]
    assert [a["agentName"] for a in agents] == ["alpha"]
    assert agents[0]["dailyActivity"] == [_day(4, api_calls=1)]


def test_agents_without_activity_in_the_period_are_not_listed(api, api_host, seed):
    s = seed([("alpha", 2, "api_calls", 1)])
    api_host.agent(s.tenant, name="idle")
    assert [a["agentName"] for a in api.ok("agent-activity", s.token)["agents"]] == ["alpha"]


def test_agent_filter_returns_only_that_agent(api, seed):
    s = seed([("alpha", 2, "api_calls", 1), ("beta", 2, "api_calls", 2)])
    agents = api.ok("agent-activity", s.token, agentId=str(s.agents["alpha"]))["agents"]
    assert [a["agentId"] for a in agents] == [str(s.agents["alpha"])]


def test_filtered_agent_is_listed_even_when_idle(api, api_host, seed):
    s = seed([("alpha", 2, "api_calls", 1)])
    idle = api_host.agent(s.tenant, name="idle")
    agents = api.ok("agent-activity", s.token, agentId=str(idle))["agents"]
    assert agents == [{"agentId": str(idle), "agentName": "idle", "dailyActivity": []}]


def test_agent_of_another_tenant_and_unknown_agent_get_the_same_404(api, seed):
    mine = seed([("alpha", 2, "api_calls", 1)])
    other = seed([("secret", 2, "api_calls", 1)])
    foreign = api.get("agent-activity", mine.token, agentId=str(other.agents["secret"]))
    unknown = api.get("agent-activity", mine.token, agentId=str(uuid.uuid4()))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json() == unknown.get_json()
    assert foreign.get_json()["error"]["code"] == "AGENT_NOT_FOUND"


def test_deleted_agent_disappears_from_activity(api, api_host, seed):
    s = seed([("alpha", 2, "api_calls", 1), ("beta", 2, "api_calls", 1)])
    api_host.delete_agent(s.agents["alpha"])
    agents = api.ok("agent-activity", s.token, from_=days_ago(3).isoformat())["agents"]
    assert [a["agentName"] for a in agents] == ["beta"]


def test_a_deleted_agent_as_filter_is_not_found(api, api_host, seed):
    s = seed([("alpha", 2, "api_calls", 1)])
    api_host.delete_agent(s.agents["alpha"])
    assert api.get("agent-activity", s.token, agentId=str(s.agents["alpha"])).status_code == 404


def test_ties_in_activity_are_ordered_by_name(api, seed):
    s = seed([("zed", 2, "api_calls", 3), ("amy", 2, "api_calls", 3)])
    assert [a["agentName"] for a in api.ok("agent-activity", s.token)["agents"]] == ["amy", "zed"]


@pytest.mark.parametrize(
    "period",
    [
        {"to": "0001-01-01"},
        {"from_": "0001-01-01", "to": "0001-01-10"},
        {"from_": "0001-01-01", "to": "0001-03-30"},
    ],
    ids=["first-day", "first-week-and-more", "whole-weeks-from-the-first-day"],
)
def test_a_period_at_the_calendars_first_days_answers_like_any_other(api, seed, period):
    s = seed([("alpha", 3, "api_calls", 5)])
    assert api.ok("agent-activity", s.token, **period)["agents"] == []
    (alpha,) = api.ok("agent-activity", s.token, agentId=str(s.agents["alpha"]), **period)["agents"]
    assert alpha["dailyActivity"] == []
