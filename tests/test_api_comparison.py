"""usage-summary's comparison with the preceding period of equal length, and the tab's deltas."""

from __future__ import annotations

from datetime import date

import pytest

from agentidp_analytics_plugin.queries.comparison import change_percent, previous_period
from agentidp_analytics_plugin.ui.presenters import delta, summary_context
from api_fixtures import days_ago


def _summary(api, s, **params):
    return api.ok("usage-summary", s.token, **params)


def test_the_previous_period_is_the_same_number_of_days_just_before():
    assert previous_period(date(2026, 3, 1), date(2026, 3, 31)) == (date(2026, 1, 29), date(2026, 2, 28))


def test_there_is_no_previous_period_before_year_one():
    assert previous_period(date(1, 1, 1), date(1, 1, 5)) is None


@pytest.mark.parametrize(
    ("current", "previous", "expected"), [(150, 100, 50.0), (50, 100, -50.0), (0, 0, 0.0), (3, 0, None), (1, 3, -66.7)]
)
def test_change_percent(current, previous, expected):
    assert change_percent(current, previous) == expected


def test_the_spec_fields_stay_exactly_as_they_were(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    body = _summary(api, s)
    assert list(body) == ["tenantId", "period", "summary", "dataCompleteThrough", "comparison"]
    assert body["summary"]["totalApiCalls"] == 3


def test_the_comparison_holds_the_previous_periods_figures_and_the_change(api, seed):
    s = seed(
        [
            ("alpha", 1, "api_calls", 30),
            ("alpha", 2, "token_failures", 4),
            ("alpha", 5, "api_calls", 20),  # the previous 3-day period: days 5..3 ago
            ("alpha", 4, "token_failures", 1),
            ("beta", 8, "api_calls", 99),  # before both periods
        ]
    )
    body = _summary(api, s, from_=days_ago(2).isoformat(), to=days_ago(0).isoformat())
    comparison = body["comparison"]
    assert comparison["period"] == {"from": days_ago(5).isoformat(), "to": days_ago(3).isoformat()}
    assert comparison["summary"]["totalApiCalls"] == 20
    assert comparison["summary"]["activeAgentCount"] == 1
    assert comparison["summary"]["totalTokenFailures"] == 1
    assert comparison["totalTokenFailures"] == 4
    assert comparison["changePercent"]["totalApiCalls"] == 50.0
    assert comparison["changePercent"]["totalTokenFailures"] == 300.0


def test_the_comparison_follows_the_agent_filter(api, seed):
    s = seed([("alpha", 5, "api_calls", 20), ("beta", 5, "api_calls", 7)])
    body = _summary(api, s, from_=days_ago(2).isoformat(), to=days_ago(0).isoformat(), agentId=str(s.agents["beta"]))
    assert body["comparison"]["summary"]["totalApiCalls"] == 7


def test_a_figure_new_in_this_period_has_no_percentage(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    body = _summary(api, s, from_=days_ago(2).isoformat(), to=days_ago(0).isoformat())
    assert body["comparison"]["changePercent"]["totalApiCalls"] is None


def _comparison(pct_failures, pct_calls, pct_rotations=0.0):
    return {
        "period": {"from": "2026-03-01", "to": "2026-03-07"},
        "summary": {},
        "totalTokenFailures": 5,
        "changePercent": {
            "totalTokenFailures": pct_failures,
            "totalApiCalls": pct_calls,
            "totalCredentialRotations": pct_rotations,
        },
    }


def test_more_failures_is_shown_as_bad():
    d = delta("totalTokenFailures", _comparison(25.0, 0.0))
    assert (d["direction"], d["tone"], d["text"]) == ("up", "bad", "+25.0%")


def test_fewer_failures_is_shown_as_good():
    assert delta("totalTokenFailures", _comparison(-10.0, 0.0))["tone"] == "good"


def test_fewer_rotations_is_shown_as_bad():
    d = delta("totalCredentialRotations", _comparison(0.0, 0.0, -50.0))
    assert (d["direction"], d["tone"]) == ("down", "bad")


def test_a_change_in_calls_is_neutral():
    assert delta("totalApiCalls", _comparison(0.0, -40.0))["tone"] == "neutral"


def test_the_delta_names_the_previous_period_length():
    assert delta("totalApiCalls", _comparison(0.0, 5.0))["versus"] == "vs the previous 7 days"


def test_without_a_comparison_cards_have_no_delta():
    payload = {
        "period": {"from": "2026-03-01", "to": "2026-03-07"},
        "summary": {
            "totalApiCalls": 1,
            "totalTokenIssuances": 0,
            "totalCredentialRotations": 0,
            "activeAgentCount": 1,
            "averageDailyApiCalls": 0,
            "peakDailyApiCalls": 1,
            "peakDate": "2026-03-02",
        },
    }
    assert all(card["delta"] is None for card in summary_context(payload)["cards"])


def test_the_tabs_summary_cards_show_the_deltas(api, seed):
    from ui_helpers import log_in

    s = seed([("alpha", 1, "api_calls", 1), ("alpha", 1, "token_failures", 4), ("alpha", 9, "token_failures", 2)])
    log_in(api.client, s.tenant)
    html = api.client.get("/analytics/fragments/summary?range=7").get_data(as_text=True)
    assert '4 failed requests <span class="aa-delta aa-delta--bad" data-direction="up"' in html
    assert "+100.0%" in html
    assert html.count('class="aa-card"') == 6
