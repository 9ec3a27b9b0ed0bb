"""CSV export: format=csv or Accept: text/csv on every endpoint, one row per data point, safe cells, the tab's link."""

from __future__ import annotations

import csv
import io

import pytest

from agentidp_analytics_plugin.csv_export import neutralise
from api_fixtures import days_ago
from ui_helpers import log_in

HEADERS = {
    "usage-summary": "from,to,totalApiCalls,totalTokenIssuances,totalCredentialRotations,activeAgentCount,"
    "averageDailyApiCalls,peakDailyApiCalls,peakDate,totalTokenFailures,period",
    "agent-activity": "agentId,agentName,date,apiCalls,tokenIssuances,credentialRotations",
    "token-trends": "date,totalIssuances,successfulIssuances,failedIssuances,uniqueAgents",
    "call-patterns": "method,route,date,calls,clientErrors,serverErrors",
}


def _csv(api, token, endpoint, headers=None, **params):
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    return api.client.get(f"/analytics/{endpoint}", query_string=params, headers=headers)


def _rows(response):
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


@pytest.mark.parametrize("endpoint", HEADERS)
def test_format_csv_answers_text_csv_starting_with_the_header_row(api, seed, endpoint):
    s = seed([("alpha", 1, "api_calls", 3)])
    response = _csv(api, s.token, endpoint, format="csv")
    assert (response.status_code, response.mimetype) == (200, "text/csv")
    assert response.get_data(as_text=True).split("\r\n")[0] == HEADERS[endpoint]


def test_accept_text_csv_answers_csv(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    response = _csv(api, s.token, "token-trends", headers={"Accept": "text/csv"})
    assert response.mimetype == "text/csv"


def test_accept_of_anything_answers_json(api, seed):
    s = seed([])
    response = _csv(api, s.token, "token-trends", headers={"Accept": "*/*"})
    assert response.mimetype == "application/json"


def test_format_json_wins_over_accept(api, seed):
    s = seed([])
    response = _csv(api, s.token, "token-trends", headers={"Accept": "text/csv"}, format="json")
    assert response.mimetype == "application/json"


def test_an_unknown_format_is_a_400_invalid_format(api, seed):
    s = seed([])
    response = _csv(api, s.token, "usage-summary", format="xml")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "INVALID_FORMAT"


def test_an_error_with_csv_requested_is_the_json_error(api, seed):
    s = seed([])
    response = _csv(
        api, s.token, "agent-activity", headers={"Accept": "text/csv"}, **{"from": days_ago(100).isoformat()}
    )
    assert (response.status_code, response.mimetype) == (400, "application/json")
    assert response.get_json()["error"]["code"] == "INVALID_DATE_RANGE"


def test_csv_needs_the_token_like_json(api, seed):
    response = api.client.get("/analytics/usage-summary?format=csv")
    assert (response.status_code, response.mimetype) == (401, "application/json")


def test_the_csv_is_streamed_as_an_attachment_named_after_the_period(api, seed):
    s = seed([])
    response = _csv(api, s.token, "token-trends", format="csv", **{"from": "2026-01-01", "to": "2026-01-31"})
    assert response.is_streamed
    assert response.headers["Content-Disposition"] == 'attachment; filename="token-trends_2026-01-01_2026-01-31.csv"'


def test_usage_summary_starts_with_the_row_of_the_periods_figures(api, seed):
    s = seed([("alpha", 1, "api_calls", 3), ("alpha", 1, "token_issuances", 2), ("alpha", 1, "token_failures", 1)])
    rows = _rows(_csv(api, s.token, "usage-summary", format="csv"))
    assert rows[1] == [
        days_ago(30).isoformat(),
        days_ago(0).isoformat(),
        "3",
        "2",
        "0",
        "1",
        "0",
        "3",
        days_ago(1).isoformat(),
        "1",
        "current",
    ]


def test_usage_summary_has_a_row_of_the_previous_periods_figures(api, seed):
    s = seed([("alpha", 40, "api_calls", 4), ("alpha", 40, "token_failures", 2), ("alpha", 1, "api_calls", 3)])
    rows = _rows(_csv(api, s.token, "usage-summary", format="csv"))
    assert rows[2] == [
        days_ago(61).isoformat(),
        days_ago(31).isoformat(),
        "4",
        "0",
        "0",
        "1",
        "0",
        "4",
        days_ago(40).isoformat(),
        "2",
        "previous",
    ]


def test_usage_summary_ends_with_the_change_in_percent_empty_where_there_is_no_base(api, seed):
    s = seed([("alpha", 40, "api_calls", 4), ("alpha", 1, "api_calls", 3), ("alpha", 1, "token_issuances", 2)])
    rows = _rows(_csv(api, s.token, "usage-summary", format="csv"))
    assert rows[3] == ["", "", "-25.0", "", "0.0", "0.0", "0.0", "-25.0", "", "0.0", "changePercent"]
    assert len(rows) == 4


def test_usage_summary_at_the_calendars_start_has_no_comparison_rows(api, seed):
    s = seed([])
    rows = _rows(_csv(api, s.token, "usage-summary", format="csv", **{"from": "0001-01-01", "to": "0001-01-05"}))
    assert [row[-1] for row in rows[1:]] == ["current"]


def test_agent_activity_has_one_row_per_agent_and_active_day(api, seed):
    s = seed([("alpha", 1, "api_calls", 3), ("alpha", 2, "api_calls", 1), ("beta", 1, "token_issuances", 4)])
    rows = _rows(_csv(api, s.token, "agent-activity", format="csv"))[1:]
    assert sorted((r[1], r[2], r[3], r[4]) for r in rows) == [
        ("alpha", days_ago(2).isoformat(), "1", "0"),
        ("alpha", days_ago(1).isoformat(), "3", "0"),
        ("beta", days_ago(1).isoformat(), "0", "4"),
    ]


def test_token_trends_has_one_row_per_point_of_the_json(api, seed):
    s = seed([("alpha", 1, "token_issuances", 3), ("alpha", 1, "token_failures", 1)])
    points = api.ok("token-trends", s.token)["dataPoints"]
    rows = _rows(_csv(api, s.token, "token-trends", format="csv"))[1:]
    assert rows == [
        [
            p["date"],
            str(p["totalIssuances"]),
            str(p["successfulIssuances"]),
            str(p["failedIssuances"]),
            str(p["uniqueAgents"]),
        ]
        for p in points
    ]


def test_call_patterns_has_one_row_per_endpoint_and_day(api, api_app, seed):
    from agentidp_analytics_plugin.call_flush import apply_batch
    from agentidp_analytics_plugin.state import get_state

    s = seed([])
    state = get_state(api_app)
    buckets = {
        (s.tenant, None, days_ago(1), "GET", "/api/things", "2xx"): [5, 10.0],
        (s.tenant, None, days_ago(1), "POST", "/api/things", "5xx"): [2, 3.0],
    }
    apply_batch(state.engine, state.tables, "csv-test", buckets)
    rows = _rows(_csv(api, s.token, "call-patterns", format="csv", **{"from": days_ago(2).isoformat()}))[1:]
    assert len(rows) == 2 * 3  # two endpoints, three days (zeros included)
    assert ["GET", "/api/things", days_ago(1).isoformat(), "5", "0", "0"] in rows
    assert ["POST", "/api/things", days_ago(1).isoformat(), "2", "0", "2"] in rows


def test_agent_names_with_commas_quotes_and_newlines_read_back_exactly(api, seed):
    name = 'billing, "prod"\nline two\r\nand three'
    s = seed([(name, 1, "api_calls", 3)])
    rows = _rows(_csv(api, s.token, "agent-activity", format="csv"))
    assert rows[1][1] == name


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_an_agent_name_a_spreadsheet_would_run_gets_a_leading_quote(api, seed, name):
    s = seed([(name, 1, "api_calls", 3)])
    rows = _rows(_csv(api, s.token, "agent-activity", format="csv"))
    assert rows[1][1] == "'" + name


def test_only_text_cells_are_neutralised():
    assert (neutralise(-3), neutralise("a-b"), neutralise(None), neutralise(True)) == (-3, "a-b", "", "true")


def test_csv_has_its_own_etag_and_answers_304(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    json_tag = _csv(api, s.token, "usage-summary").headers["ETag"]
    csv_tag = _csv(api, s.token, "usage-summary", format="csv").headers["ETag"]
    assert csv_tag != json_tag and csv_tag.endswith('-csv"')
    assert _csv(api, s.token, "usage-summary", headers={"If-None-Match": csv_tag}, format="csv").status_code == 304


def test_answers_vary_on_accept(api, seed):
    s = seed([])
    assert "Accept" in _csv(api, s.token, "usage-summary").headers["Vary"]


def test_the_tab_exports_a_panel_as_csv_for_the_signed_in_tenant(api, seed):
    s = seed([("alpha", 1, "api_calls", 3)])
    log_in(api.client, s.tenant)
    response = api.client.get("/analytics/export/heatmap.csv?range=7")
    assert (response.status_code, response.mimetype) == (200, "text/csv")
    assert _rows(response)[1][1:4] == ["alpha", days_ago(1).isoformat(), "3"]


def test_the_tab_exports_the_rotation_table(api, seed):
    s = seed([("alpha", 1, "credential_rotations", 1)])
    log_in(api.client, s.tenant)
    rows = _rows(api.client.get("/analytics/export/rotations.csv?range=7"))
    assert rows[0] == ["agentId", "agentName", "rotations", "lastRotation", "meanDaysBetween", "stale"]
    assert rows[1][1:4] == ["alpha", "1", days_ago(1).isoformat()]


def test_the_tab_export_of_an_unknown_panel_is_404(api, seed):
    s = seed([])
    log_in(api.client, s.tenant)
    assert api.client.get("/analytics/export/nope.csv").status_code == 404


def test_every_panel_of_the_tab_has_a_download_csv_link(api, seed):
    s = seed([])
    log_in(api.client, s.tenant)
    page = api.client.get("/analytics/?range=7").get_data(as_text=True)
    for panel in ("summary", "heatmap", "trends", "rotations", "calls"):
        assert f'href="/analytics/export/{panel}.csv?range=7"' in page
