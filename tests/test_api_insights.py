"""GET /analytics/insights: each rule fires on crafted data, and just misses one step short of it."""

from __future__ import annotations

import pytest

from api_fixtures import count_statements, days_ago, findings


def _names(found):
    return sorted(a["agentName"] for f in found for a in f["agents"])


# -- dormant agents ------------------------------------------------------------


def test_an_agent_quiet_for_the_dormant_days_is_dormant(api, seed):
    s = seed([("sleepy", 30, "api_calls", 5), ("busy", 0, "api_calls", 5)])
    [finding] = findings(api, s, "dormant_agent")
    assert (finding["severity"], _names([finding])) == ("high", ["sleepy"])
    assert finding["numbers"] == {"lastActive": days_ago(30).isoformat(), "daysInactive": 30, "dormantDays": 30}


def test_an_agent_active_one_day_later_is_not_dormant(api, seed):
    s = seed([("sleepy", 29, "api_calls", 5)])
    assert findings(api, s, "dormant_agent") == []


def test_the_dormant_days_are_configurable(api, api_app, seed):
    api_app.config["ANALYTICS_DORMANT_DAYS"] = 10
    s = seed([("sleepy", 10, "api_calls", 5)])
    assert _names(findings(api, s, "dormant_agent")) == ["sleepy"]


# -- overdue rotation ----------------------------------------------------------


def test_a_credential_not_rotated_for_the_stale_days_is_overdue(api, seed):
    s = seed([("old", 30, "credential_rotations", 1), ("old", 0, "api_calls", 1)])
    [finding] = findings(api, s, "overdue_rotation")
    assert finding["severity"] == "medium"
    assert finding["numbers"] == {"lastRotation": days_ago(30).isoformat(), "daysSinceRotation": 30, "staleDays": 30}


def test_a_credential_rotated_one_day_later_is_not_overdue(api, seed):
    s = seed([("fresh", 29, "credential_rotations", 1)])
    assert findings(api, s, "overdue_rotation") == []


def test_a_credential_never_rotated_is_overdue(api, seed):
    s = seed([("never", 1, "api_calls", 1)])
    [finding] = findings(api, s, "overdue_rotation")
    assert finding["numbers"]["lastRotation"] is None


# -- failure spikes ------------------------------------------------------------


def _history(name, per_day):
    return [(name, n, "token_failures", per_day) for n in range(2, 30)]  # the 28 days before yesterday


def test_failures_far_above_the_agents_own_baseline_are_a_spike(api, seed):
    s = seed([*_history("flaky", 2), ("flaky", 1, "token_failures", 6)])
    [finding] = findings(api, s, "failure_spike")
    assert finding["severity"] == "high"
    assert finding["numbers"] == {
        "date": days_ago(1).isoformat(),
        "tokenFailures": 6,
        "baselineMedian": 2.0,
        "baselineMad": 0.0,
        "baselineDays": 28,
        "minimumCount": 5,
    }


def test_failures_at_the_threshold_are_not_a_spike(api, seed):
    s = seed([*_history("flaky", 2), ("flaky", 1, "token_failures", 5)])  # median 2 + 3 x 1
    assert findings(api, s, "failure_spike") == []


def test_the_baseline_is_robust_to_one_bad_day_in_it(api, seed):
    history = [row for row in _history("flaky", 2) if row[1] != 10]
    s = seed([*history, ("flaky", 10, "token_failures", 500), ("flaky", 1, "token_failures", 6)])
    # Only yesterday in the period; its baseline holds the 500 (a mean and standard deviation would hide the spike).
    [finding] = findings(api, s, "failure_spike", from_=days_ago(1).isoformat())
    assert (finding["numbers"]["tokenFailures"], finding["numbers"]["baselineMedian"]) == (6, 2.0)


def test_an_agents_largest_spike_of_the_period_is_the_one_reported(api, seed):
    history = [row for row in _history("flaky", 2) if row[1] != 10]
    s = seed([*history, ("flaky", 10, "token_failures", 500), ("flaky", 1, "token_failures", 6)])
    assert [f["numbers"]["tokenFailures"] for f in findings(api, s, "failure_spike")] == [500]


def test_a_spread_history_raises_the_threshold(api, seed):
    # Alternating 0 and 10: median 5, MAD 5, sigma 7.4, threshold 27.2 (only yesterday in the period).
    rows = [("noisy", n, "token_failures", 10 * (n % 2)) for n in range(2, 30)]
    yesterday = days_ago(1).isoformat()
    s = seed([*rows, ("noisy", 1, "token_failures", 27)])
    assert findings(api, s, "failure_spike", from_=yesterday) == []
    s2 = seed([*rows, ("noisy", 1, "token_failures", 28)])
    assert [f["numbers"]["baselineMad"] for f in findings(api, s2, "failure_spike", from_=yesterday)] == [5.0]


def test_from_zero_the_minimum_count_makes_a_spike(api, seed):
    s = seed([("quiet", 1, "token_failures", 5)])
    assert _names(findings(api, s, "failure_spike")) == ["quiet"]


def test_from_zero_one_failure_less_than_the_minimum_is_no_spike(api, seed):
    s = seed([("quiet", 1, "token_failures", 4)])
    assert findings(api, s, "failure_spike") == []


# -- usage surge and drop ------------------------------------------------------


def test_calls_doubling_by_at_least_100_is_a_surge(api, seed):
    s = seed([("grower", 40, "api_calls", 100), ("grower", 1, "api_calls", 200)])
    [finding] = findings(api, s, "usage_surge")
    assert finding["severity"] == "low"
    assert (finding["numbers"]["apiCalls"], finding["numbers"]["previousApiCalls"]) == (200, 100)
    assert finding["numbers"]["previousPeriod"] == {"from": days_ago(61).isoformat(), "to": days_ago(31).isoformat()}


def test_calls_just_short_of_double_are_no_surge(api, seed):
    s = seed([("grower", 40, "api_calls", 100), ("grower", 1, "api_calls", 199)])
    assert findings(api, s, "usage_surge") == []


def test_calls_halving_by_at_least_100_is_a_drop(api, seed):
    s = seed([("shrinker", 40, "api_calls", 300), ("shrinker", 1, "api_calls", 150)])
    [finding] = findings(api, s, "usage_drop")
    assert (finding["severity"], finding["numbers"]["apiCalls"]) == ("medium", 150)


def test_calls_just_above_half_are_no_drop(api, seed):
    s = seed([("shrinker", 40, "api_calls", 300), ("shrinker", 1, "api_calls", 151)])
    assert findings(api, s, "usage_drop") == []


# -- new agents ----------------------------------------------------------------


def test_agents_first_active_in_the_period_are_new(api, seed):
    s = seed([("newcomer", 30, "api_calls", 1), ("veteran", 31, "api_calls", 1), ("veteran", 1, "api_calls", 1)])
    [finding] = findings(api, s, "new_agents")
    assert (finding["severity"], _names([finding])) == ("info", ["newcomer"])
    assert finding["numbers"]["count"] == 1


def test_an_agent_first_active_the_day_before_the_period_is_not_new(api, seed):
    s = seed([("veteran", 31, "api_calls", 1)])
    assert findings(api, s, "new_agents") == []


# -- the answer ----------------------------------------------------------------


def test_findings_are_ranked_by_severity(api, seed):
    s = seed([("sleepy", 40, "api_calls", 1), ("grower", 1, "api_calls", 500)])
    severities = [f["severity"] for f in findings(api, s)]
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    assert severities == sorted(severities, key=order.get)
    assert severities[0] == "high" and severities[-1] == "info"


def test_each_finding_links_to_the_tab_state_that_shows_it(api, seed):
    s = seed([("sleepy", 40, "api_calls", 1)])
    [finding] = findings(api, s, "dormant_agent")
    agent = s.agents["sleepy"]
    assert finding["link"] == (
        f"/analytics/?range=custom&from={days_ago(30).isoformat()}&to={days_ago(0).isoformat()}&agentId={agent}"
    )


def test_another_tenants_agents_are_never_found(api, seed):
    seed([("theirs", 40, "api_calls", 1)])
    s = seed([])
    assert findings(api, s) == []


def test_the_queries_do_not_grow_with_the_number_of_agents(api, api_app, seed):
    few = seed([("a0", 40, "api_calls", 1), ("a1", 1, "token_failures", 9)])
    many = seed([(f"a{i}", i % 40, m, 9) for i in range(30) for m in ("api_calls", "token_failures")])
    counts = []
    for s in (few, many):
        with count_statements(api_app) as counter:
            api.ok("insights", s.token)
        counts.append(len(counter.analytics))
    assert counts[0] == counts[1]


def test_a_second_request_is_cached(api, api_app, seed):
    s = seed([("sleepy", 40, "api_calls", 1)])
    first = api.ok("insights", s.token)
    with count_statements(api_app) as counter:
        assert api.ok("insights", s.token) == first
    assert counter.analytics == []


def test_the_period_holds_at_most_90_days(api, seed):
    s = seed([])
    response = api.get("insights", s.token, from_=days_ago(90).isoformat())
    assert response.get_json()["error"]["code"] == "INVALID_DATE_RANGE"


def test_a_period_at_the_start_of_the_calendar_is_no_error(api, seed):
    s = seed([])
    assert api.ok("insights", s.token, from_="0001-01-01", to="0001-01-05")["insights"] == []


def test_insights_export_as_csv_one_row_per_finding_and_agent(api, seed):
    s = seed([("sleepy", 40, "api_calls", 1)])
    response = api.get("insights", s.token, format="csv")
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "kind,severity,agentId,agentName,numbers,link"
    assert any(line.startswith("dormant_agent,high,") for line in lines)


@pytest.mark.parametrize("tier", ["free"])
def test_a_plan_without_analytics_gets_no_insights(api, seed, tier):
    s = seed([], tier=tier)
    assert api.get("insights", s.token).status_code == 403


# -- the tab's panel -----------------------------------------------------------


def test_the_insights_panel_comes_first_in_the_tab(api, seed):
    from ui_helpers import log_in

    s = seed([])
    log_in(api.client, s.tenant)
    page = api.client.get("/analytics/?range=30").get_data(as_text=True)
    assert page.index('id="aa-panel-insights"') < page.index('id="aa-panel-summary"')
    assert 'href="/analytics/export/insights.csv?range=30"' in page


def test_the_insights_panel_lists_findings_most_severe_first_with_links(api, seed):
    from ui_helpers import log_in

    s = seed([("sleepy", 40, "api_calls", 1), ("newbie", 2, "credential_rotations", 1)])
    log_in(api.client, s.tenant)
    html = api.client.get("/analytics/fragments/insights?range=30").get_data(as_text=True)
    kinds = [k for k in ("dormant_agent", "new_agents") if f'data-kind="{k}"' in html]
    assert kinds == ["dormant_agent", "new_agents"]
    assert html.index('data-kind="dormant_agent"') < html.index('data-kind="new_agents"')
    assert f"agentId={s.agents['sleepy']}" in html
    assert f"No activity since {days_ago(40).isoformat()} (39 days)." in html  # the preset ends yesterday


def test_the_insights_panel_says_when_nothing_needs_attention(api, seed):
    from ui_helpers import log_in

    s = seed([("steady", 40, "api_calls", 1), ("steady", 1, "api_calls", 1), ("steady", 1, "credential_rotations", 1)])
    log_in(api.client, s.tenant)
    html = api.client.get("/analytics/fragments/insights?range=30").get_data(as_text=True)
    assert 'data-state="empty"' in html and "Nothing needs your attention." in html
