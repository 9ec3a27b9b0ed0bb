"""The service and the parameter parser as the dashboard calls them, without HTTP."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from agentidp_analytics_plugin.errors import AnalyticsError
from agentidp_analytics_plugin.params import parse_query
from agentidp_analytics_plugin.queries.common import as_date
from agentidp_analytics_plugin.queries.summary import round_half_up
from agentidp_analytics_plugin.rollups import week_start
from agentidp_analytics_plugin.service import AnalyticsService
from agentidp_analytics_plugin.state import get_state
from api_fixtures import count_statements, days_ago

TODAY = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("day", "monday"),
    [
        (date(2026, 3, 2), date(2026, 3, 2)),
        (date(2026, 3, 8), date(2026, 3, 2)),
        (date(2026, 1, 1), date(2025, 12, 29)),
    ],
    ids=["monday", "sunday", "new-year-thursday"],
)
def test_week_start_is_the_iso_monday(day, monday):
    assert week_start(day) == monday


@pytest.mark.parametrize(
    ("total", "days", "average"), [(5, 2, 3), (4, 3, 1), (0, 31, 0), (7, 2, 4), (10**15 + 1, 2, 5 * 10**14 + 1)]
)
def test_round_half_up(total, days, average):
    assert round_half_up(total, days) == average


def test_as_date_accepts_text_from_sqlite():
    assert as_date("2026-03-01") == as_date(date(2026, 3, 1)) == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("args", "endpoint", "expected"),
    [
        ({}, "usage-summary", (date(2026, 3, 1), TODAY, None, "day")),
        ({"to": "2026-02-10"}, "usage-summary", (date(2026, 1, 11), date(2026, 2, 10), None, "day")),
        ({"granularity": "week"}, "token-trends", (date(2026, 3, 1), TODAY, None, "week")),
        ({"granularity": "week"}, "usage-summary", (date(2026, 3, 1), TODAY, None, "day")),
        (
            {"agentId": "6F9619FF-8B86-D011-B42D-00C04FC964FF"},
            "agent-activity",
            (date(2026, 3, 1), TODAY, uuid.UUID("6f9619ff-8b86-d011-b42d-00c04fc964ff"), "day"),
        ),
    ],
    ids=["defaults", "to-only", "week", "foreign-param-ignored", "agent"],
)
def test_parse_query_applies_defaults_and_normalises(args, endpoint, expected):
    q = parse_query(args, endpoint, TODAY)
    assert (q.from_, q.to, q.agent_id, q.granularity) == expected


def test_parse_query_refuses_an_unknown_endpoint():
    with pytest.raises(ValueError, match="Unknown analytics endpoint"):
        parse_query({}, "nope", TODAY)


def test_normalised_query_names_what_defines_the_answer():
    assert parse_query({"granularity": "week"}, "token-trends", TODAY).normalised() == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "agentId": None,
        "granularity": "week",
    }
    assert parse_query({}, "agent-activity", TODAY).normalised()["agentId"] is None
    assert parse_query({"sort": "agent"}, "credential-rotations", TODAY).normalised() == {
        "from": "2026-03-01",
        "to": "2026-03-31",
        "agentId": None,
        "sort": "agent",
        "dir": "asc",
    }


def test_service_refuses_an_unknown_granularity(app):
    with app.app_context(), pytest.raises(AnalyticsError) as raised:
        get_state(app).service.get_token_trends(uuid.uuid4(), TODAY, TODAY, "month")
    assert (raised.value.status, raised.value.code) == (400, "INVALID_GRANULARITY")


def test_the_dashboard_and_the_api_share_cache_entries(api, api_app, seed):
    s = seed([("alpha", 1, "api_calls", 2)])
    with api_app.test_request_context():
        direct = get_state(api_app).service.get_usage_summary(s.tenant, days_ago(30), days_ago(0))
    registry = get_state(api_app).metrics.registry
    labels = {"endpoint": "usage-summary"}
    before = registry.get_sample_value("agentidp_analytics_cache_hits_total", labels) or 0
    assert api.ok("usage-summary", s.token) == direct
    assert registry.get_sample_value("agentidp_analytics_cache_hits_total", labels) == before + 1


def test_service_works_without_a_cache(api_app, seed):
    s = seed([("alpha", 1, "api_calls", 2)])
    state = get_state(api_app)
    with api_app.app_context():
        engine = state.engine
    bare = AnalyticsService(engine, state.tables, state.metrics, None, {})
    with api_app.app_context():
        assert bare.get_usage_summary(s.tenant, days_ago(1), days_ago(1))["summary"]["totalApiCalls"] == 2
        assert bare.data_complete_through() == days_ago(1)


BUSY_TENANT = [
    ("alpha", 1, "api_calls", 50),
    ("alpha", 2, "token_issuances", 5),
    ("beta", 1, "api_calls", 90),
    ("gamma", 3, "credential_rotations", 1),
    ("delta", 2, "api_calls", 20),
    ("delta", 1, "api_calls", 20),
    (None, 1, "api_calls", 999),
]


@pytest.mark.parametrize("top", [1, 2, 3, 4, 10], ids=lambda n: f"top-{n}")
def test_the_top_agents_are_the_head_of_the_full_list(api_app, seed, top):
    s = seed(BUSY_TENANT)
    service = get_state(api_app).service
    with api_app.app_context():
        full = service.get_agent_activity(s.tenant, days_ago(30), days_ago(0))
        head = service.get_agent_activity(s.tenant, days_ago(30), days_ago(0), top=top)
    assert [a["agentName"] for a in full["agents"]] == ["beta", "alpha", "delta", "gamma"]
    assert head["agents"] == full["agents"][:top]
    assert head["agentCount"] == 4
    assert "agentCount" not in full


def test_the_top_agents_and_the_full_list_are_cached_apart(api_app, seed):
    s = seed(BUSY_TENANT)
    service = get_state(api_app).service
    with api_app.app_context():
        full = service.get_agent_activity(s.tenant, days_ago(30), days_ago(0))
        head = service.get_agent_activity(s.tenant, days_ago(30), days_ago(0), top=1)
        with count_statements(api_app) as counter:
            assert service.get_agent_activity(s.tenant, days_ago(30), days_ago(0)) == full
            assert service.get_agent_activity(s.tenant, days_ago(30), days_ago(0), top=1) == head
    assert counter.analytics == []
