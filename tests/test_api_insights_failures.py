"""GET /analytics/insights: the tenant's failure rate and the agents' failed calls, each firing and just missing."""

from __future__ import annotations

import uuid

import pytest

from agentidp_analytics_plugin.call_flush import apply_batch
from agentidp_analytics_plugin.state import get_state
from api_fixtures import count_statements, days_ago, findings

ROUTE = "/api/agents/<uuid:agent_id>/credentials"


# -- the tenant's failure rate -------------------------------------------------


def _requests(days, issued, failed, agent=None):
    """Token requests on each of ``days`` (days ago): ``issued`` issued and ``failed`` failed."""
    return [row for n in days for row in ((agent, n, "token_issuances", issued), (agent, n, "token_failures", failed))]


HISTORY = _requests(range(2, 30), 95, 5)  # 28 days at a 5% failure rate, tenant-wide rows (no agent)


def test_a_day_whose_failure_rate_is_far_above_the_tenants_baseline_is_a_finding(api, seed):
    # Baseline: median 5%, MAD 0, so the threshold is 5% + 3 x 2% = 11%; 10 of 90 is 11.1%.
    s = seed([*HISTORY, *_requests([1], 80, 10)])
    [finding] = findings(api, s, "tenant_failure_rate")
    assert (finding["severity"], finding["agents"]) == ("high", [])
    assert finding["numbers"] == {
        "date": days_ago(1).isoformat(),
        "tokenFailures": 10,
        "tokenRequests": 90,
        "failureRate": 0.1111,
        "baselineMedianRate": 0.05,
        "baselineMadRate": 0.0,
        "baselineDays": 28,
        "minimumRequests": 20,
        "minimumCount": 5,
    }


def test_one_failure_fewer_is_no_finding(api, seed):
    s = seed([*HISTORY, *_requests([1], 81, 9)])  # 10%: under the 11% threshold
    assert findings(api, s, "tenant_failure_rate") == []


def test_the_agents_failures_and_the_tenant_wide_ones_make_one_rate(api, seed):
    s = seed([*HISTORY, *_requests([1], 80, 5, agent="a"), *_requests([1], 0, 5)])
    [finding] = findings(api, s, "tenant_failure_rate")
    assert (finding["numbers"]["tokenFailures"], finding["numbers"]["tokenRequests"]) == (10, 90)


def test_a_day_with_the_minimum_number_of_requests_can_be_a_finding(api, seed):
    s = seed([*HISTORY, *_requests([1], 10, 10)])
    assert [f["numbers"]["tokenRequests"] for f in findings(api, s, "tenant_failure_rate")] == [20]


def test_a_day_with_one_request_fewer_than_the_minimum_is_no_finding(api, seed):
    s = seed([*HISTORY, *_requests([1], 9, 10)])  # 53% failed, but of 19 requests
    assert findings(api, s, "tenant_failure_rate") == []


def test_seven_days_with_requests_make_a_baseline(api, seed):
    s = seed([*_requests(range(2, 9), 95, 5), *_requests([1], 50, 50)])
    assert [f["numbers"]["baselineDays"] for f in findings(api, s, "tenant_failure_rate")] == [7]


def test_six_days_with_requests_make_no_baseline(api, seed):
    s = seed([*_requests(range(2, 8), 95, 5), *_requests([1], 50, 50)])
    assert findings(api, s, "tenant_failure_rate") == []


def test_the_baseline_is_robust_to_one_bad_day_in_it(api, seed):
    history = [row for row in HISTORY if row[1] != 10]
    s = seed([*history, *_requests([10], 0, 100), *_requests([1], 80, 10)])
    found = findings(api, s, "tenant_failure_rate", from_=days_ago(1).isoformat())
    assert [f["numbers"]["baselineMedianRate"] for f in found] == [0.05]


def test_the_failure_rate_finding_links_to_the_trends_of_its_day(api, seed):
    s = seed([*HISTORY, *_requests([1], 80, 10)])
    [finding] = findings(api, s, "tenant_failure_rate")
    assert finding["link"] == (
        f"/analytics/?range=custom&from={days_ago(29).isoformat()}&to={days_ago(1).isoformat()}#aa-panel-trends"
    )


def test_the_failure_rate_finding_ranks_first_of_the_high_ones(api, seed):
    s = seed([*HISTORY, *_requests([1], 80, 10), ("sleepy", 45, "api_calls", 1)])
    kinds = [f["kind"] for f in api.ok("insights", s.token)["insights"]]
    assert kinds[0] == "tenant_failure_rate" and "dormant_agent" in kinds


def test_the_tenant_wide_finding_is_one_csv_row_without_an_agent(api, seed):
    s = seed([*HISTORY, *_requests([1], 80, 10)])
    lines = api.get("insights", s.token, format="csv").get_data(as_text=True).splitlines()
    assert [line for line in lines if line.startswith("tenant_failure_rate,")][0].startswith(
        "tenant_failure_rate,high,,,"
    )


# -- failed calls from the call patterns -----------------------------------------


@pytest.fixture
def counted(api_app):
    """Add (agent, days ago, status class, calls) call-pattern rows, the way the flush adds them."""

    def add(tenant: uuid.UUID, rows: list[tuple[uuid.UUID, int, str, int]]) -> None:
        buckets = {
            (tenant, agent, days_ago(ago), "GET", ROUTE, status): [calls, 1.0] for agent, ago, status, calls in rows
        }
        state = get_state(api_app)
        assert apply_batch(state.engine, state.tables, f"test:{uuid.uuid4().hex}", buckets).applied == 1

    return add


@pytest.fixture
def recording(api_app):
    """The host records call patterns (read per request, like the insights' other settings)."""
    api_app.config["ANALYTICS_CALL_PATTERNS_ENABLED"] = True


def _calls(seed, counted, spike, status="4xx"):
    s = seed([("caller", 40, "api_calls", 1)])
    agent = s.agents["caller"]
    history = [(agent, n, "4xx", 2) for n in range(2, 30)]
    ok = [(agent, n, "2xx", 500) for n in range(1, 30)]
    counted(s.tenant, [*history, *ok, (agent, 1, status, spike)])
    return s


def test_failed_calls_far_above_the_agents_baseline_are_a_finding(api, seed, counted, recording):
    s = _calls(seed, counted, 6)  # median 2 + 3 x 1 = 5
    [finding] = findings(api, s, "call_error_spike")
    assert (finding["severity"], [a["agentName"] for a in finding["agents"]]) == ("medium", ["caller"])
    assert finding["numbers"] == {
        "date": days_ago(1).isoformat(),
        "failedCalls": 6,
        "clientErrors": 6,
        "serverErrors": 0,
        "baselineMedian": 2.0,
        "baselineMad": 0.0,
        "baselineDays": 28,
        "minimumCount": 5,
    }


def test_failed_calls_at_the_threshold_are_no_finding(api, seed, counted, recording):
    s = _calls(seed, counted, 5)
    assert findings(api, s, "call_error_spike") == []


def test_server_errors_count_as_failed_calls(api, seed, counted, recording):
    s = _calls(seed, counted, 6, status="5xx")
    [finding] = findings(api, s, "call_error_spike")
    assert (finding["numbers"]["clientErrors"], finding["numbers"]["serverErrors"]) == (0, 6)


def test_from_zero_failed_calls_need_the_minimum_count(api, seed, counted, recording):
    s = seed([("quiet", 40, "api_calls", 1), ("loud", 40, "api_calls", 1)])
    counted(s.tenant, [(s.agents["quiet"], 1, "4xx", 4), (s.agents["loud"], 1, "4xx", 5)])
    assert [f["agents"][0]["agentName"] for f in findings(api, s, "call_error_spike")] == ["loud"]


def test_the_failed_calls_finding_links_to_the_agents_call_patterns(api, seed, counted, recording):
    s = _calls(seed, counted, 6)
    [finding] = findings(api, s, "call_error_spike")
    assert finding["link"] == (
        f"/analytics/?range=custom&from={days_ago(29).isoformat()}&to={days_ago(1).isoformat()}"
        f"&agentId={s.agents['caller']}#aa-panel-calls"
    )


def test_without_call_patterns_recorded_failed_calls_are_not_weighed(api, seed, counted):
    s = _calls(seed, counted, 50)
    assert findings(api, s, "call_error_spike") == []


def test_recording_with_no_counts_yet_finds_nothing_and_fails_nothing(api, seed, recording):
    s = seed([("caller", 1, "api_calls", 1)])
    assert findings(api, s, "call_error_spike") == []


def test_the_queries_do_not_grow_with_the_number_of_agents_when_recording(api, api_app, seed, counted, recording):
    few = seed([("a0", 40, "api_calls", 1)])
    many = seed([(f"a{i}", 40, "api_calls", 1) for i in range(30)])
    counted(many.tenant, [(agent, n, "4xx", 9) for agent in many.agents.values() for n in (1, 2)])
    counts = []
    for s in (few, many):
        with count_statements(api_app) as counter:
            api.ok("insights", s.token)
        counts.append(len(counter.analytics))
    assert counts[0] == counts[1]


def test_failed_call_spikes_rank_after_the_other_mediumfindings(api, seed, counted, recording):
    s = seed([("caller", 40, "api_calls", 1)])  # never rotated: an overdue rotation, medium
    counted(s.tenant, [(s.agents["caller"], 1, "5xx", 900)])
    kinds = [f["kind"] for f in api.ok("insights", s.token)["insights"] if f["severity"] == "medium"]
    assert kinds == ["overdue_rotation", "call_error_spike"]
