"""GET /analytics/usage-summary: totals, active agents, average and peak day."""

from __future__ import annotations

from agentidp_analytics_plugin.state import get_state
from api_fixtures import days_ago


def test_usage_summary_returns_correct_aggregate_counts(api, seed):
    s = seed(
        [
            ("alpha", 3, "api_calls", 100),
            ("alpha", 3, "token_issuances", 7),
            ("alpha", 2, "api_calls", 50),
            ("beta", 2, "api_calls", 30),
            ("beta", 2, "credential_rotations", 2),
            ("beta", 1, "token_failures", 4),
        ]
    )
    body = api.ok("usage-summary", s.token, from_=days_ago(9).isoformat(), to=days_ago(0).isoformat())
    assert body["tenantId"] == str(s.tenant)
    assert body["period"] == {"from": days_ago(9).isoformat(), "to": days_ago(0).isoformat()}
    assert body["summary"] == {
        "totalApiCalls": 180,
        "totalTokenIssuances": 7,
        "totalCredentialRotations": 2,
        "activeAgentCount": 2,
        "averageDailyApiCalls": 18,
        "peakDailyApiCalls": 100,
        "peakDate": days_ago(3).isoformat(),
    }


def test_only_days_inside_the_period_count(api, seed):
    s = seed([("alpha", 5, "api_calls", 1000), ("alpha", 2, "api_calls", 10)])
    body = api.ok("usage-summary", s.token, from_=days_ago(3).isoformat(), to=days_ago(1).isoformat())
    assert body["summary"]["totalApiCalls"] == 10


def test_tenant_wide_rows_count_in_totals_never_as_an_agent(api, seed):
    s = seed([(None, 2, "api_calls", 40), (None, 2, "token_issuances", 3)])
    summary = api.ok("usage-summary", s.token)["summary"]
    assert summary["totalApiCalls"] == 40
    assert summary["totalTokenIssuances"] == 3
    assert summary["activeAgentCount"] == 0
    assert summary["peakDate"] == days_ago(2).isoformat()


def test_an_agent_with_only_failed_issuances_is_active(api, seed):
    s = seed([("alpha", 2, "token_failures", 1)])
    assert api.ok("usage-summary", s.token)["summary"]["activeAgentCount"] == 1


def test_empty_tenant_gets_zeros_and_no_peak_date(api, seed):
    s = seed([])
    assert api.ok("usage-summary", s.token)["summary"] == {
        "totalApiCalls": 0,
        "totalTokenIssuances": 0,
        "totalCredentialRotations": 0,
        "activeAgentCount": 0,
        "averageDailyApiCalls": 0,
        "peakDailyApiCalls": 0,
        "peakDate": None,
    }


def test_average_daily_api_calls_rounds_half_up(api, seed):
    s = seed([("alpha", 1, "api_calls", 5)])  # 5 calls over 2 days = 2.5
    body = api.ok("usage-summary", s.token, from_=days_ago(1).isoformat(), to=days_ago(0).isoformat())
    assert body["summary"]["averageDailyApiCalls"] == 3


def test_peak_date_is_the_earliest_of_tied_days(api, seed):
    s = seed([("alpha", 4, "api_calls", 9), ("beta", 2, "api_calls", 9), ("alpha", 3, "api_calls", 1)])
    summary = api.ok("usage-summary", s.token)["summary"]
    assert (summary["peakDailyApiCalls"], summary["peakDate"]) == (9, days_ago(4).isoformat())


def test_peak_day_adds_agents_and_tenant_wide_calls(api, seed):
    s = seed([("alpha", 4, "api_calls", 6), (None, 4, "api_calls", 6), ("beta", 3, "api_calls", 10)])
    summary = api.ok("usage-summary", s.token)["summary"]
    assert (summary["peakDailyApiCalls"], summary["peakDate"]) == (12, days_ago(4).isoformat())


def test_default_period_is_the_last_30_days_up_to_today(api, seed):
    s = seed([("alpha", 30, "api_calls", 1), ("alpha", 31, "api_calls", 100)])
    body = api.ok("usage-summary", s.token)
    assert body["period"] == {"from": days_ago(30).isoformat(), "to": days_ago(0).isoformat()}
    assert body["summary"]["totalApiCalls"] == 1


def test_deleting_an_agent_keeps_the_tenant_totals(api, api_host, seed):
    s = seed([("alpha", 2, "api_calls", 10), ("beta", 2, "api_calls", 5)])
    before = api.ok("usage-summary", s.token)["summary"]
    api_host.delete_agent(s.agents["alpha"])
    get_state(api.app).cache.clear()  # the cached answer expires (in Redis and in this process)
    after = api.ok("usage-summary", s.token)["summary"]
    assert after["totalApiCalls"] == before["totalApiCalls"] == 15
    assert after["activeAgentCount"] == 1


def test_response_says_up_to_which_day_the_data_is_complete(api, seed):
    s = seed([("alpha", 2, "api_calls", 1), ("alpha", 1, "api_calls", 1)])
    response = api.get("usage-summary", s.token)
    assert response.get_json()["dataCompleteThrough"] == days_ago(1).isoformat()
    assert response.headers["X-Analytics-Data-Complete-Through"] == days_ago(1).isoformat()


def test_before_the_first_roll_up_nothing_is_complete(api, seed):
    s = seed([])
    response = api.get("usage-summary", s.token)
    assert response.get_json()["dataCompleteThrough"] is None
    assert "X-Analytics-Data-Complete-Through" not in response.headers


def test_fields_come_in_the_spec_order_from_the_database_and_from_the_cache(api, seed):
    s = seed([("alpha", 1, "api_calls", 5)])
    for _ in range(2):  # a miss, then a hit
        body = api.ok("usage-summary", s.token)
        # The spec's fields first, in its order; the plugin's additions after them.
        assert list(body) == ["tenantId", "period", "summary", "dataCompleteThrough", "comparison"]
        assert list(body["summary"]) == [
            "totalApiCalls", "totalTokenIssuances", "totalCredentialRotations", "activeAgentCount",
            "averageDailyApiCalls", "peakDailyApiCalls", "peakDate",
        ]
