"""Every refusal of the JSON API: status, code, one error shape, never a 5xx."""

from __future__ import annotations

import pytest

from api_fixtures import days_ago

ENDPOINTS = ["usage-summary", "agent-activity", "token-trends"]


def _error(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.fixture
def pro(seed):
    return seed([("alpha", 1, "api_calls", 1)])


BAD_PARAMS = [
    ("usage-summary", {"from_": days_ago(1), "to": days_ago(2)}, "INVALID_DATE_RANGE"),
    ("agent-activity", {"from_": days_ago(1), "to": days_ago(2)}, "INVALID_DATE_RANGE"),
    ("token-trends", {"from_": days_ago(1), "to": days_ago(2)}, "INVALID_DATE_RANGE"),
    ("usage-summary", {"from_": days_ago(365)}, "INVALID_DATE_RANGE"),
    ("token-trends", {"from_": days_ago(365)}, "INVALID_DATE_RANGE"),
    ("agent-activity", {"from_": days_ago(90)}, "INVALID_DATE_RANGE"),
    ("usage-summary", {"to": days_ago(-1)}, "INVALID_DATE_RANGE"),
    ("agent-activity", {"to": days_ago(-1)}, "INVALID_DATE_RANGE"),
    ("token-trends", {"granularity": "month"}, "INVALID_GRANULARITY"),
    ("token-trends", {"granularity": "DAY"}, "INVALID_GRANULARITY"),
    ("token-trends", {"granularity": ""}, "INVALID_GRANULARITY"),
    ("usage-summary", {"from_": "2026-02-30"}, "INVALID_DATE"),
    ("usage-summary", {"from_": "yesterday"}, "INVALID_DATE"),
    ("usage-summary", {"to": "2026-3-1"}, "INVALID_DATE"),
    ("usage-summary", {"to": ""}, "INVALID_DATE"),
    ("token-trends", {"from_": "2026-01-01T00:00:00"}, "INVALID_DATE"),
    ("agent-activity", {"from_": "٢٠٢٦-٠١-٠١"}, "INVALID_DATE"),
    ("agent-activity", {"agentId": "not-a-uuid"}, "INVALID_AGENT_ID"),
    ("agent-activity", {"agentId": ""}, "INVALID_AGENT_ID"),
    ("agent-activity", {"agentId": "1" * 1000}, "INVALID_AGENT_ID"),
    ("agent-activity", {"agentId": "\x00"}, "INVALID_AGENT_ID"),
]


@pytest.mark.parametrize(
    ("endpoint", "params", "code"),
    BAD_PARAMS,
    ids=[f"{e}-{c}-{i}" for i, (e, _, c) in enumerate(BAD_PARAMS)],
)
def test_invalid_parameters_get_a_400_with_their_code(api, pro, endpoint, params, code):
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in params.items()}
    _error(api.get(endpoint, pro.token, **params), 400, code)


@pytest.mark.parametrize(
    ("endpoint", "days"), [("usage-summary", 365), ("token-trends", 365), ("agent-activity", 90)], ids=ENDPOINTS
)
def test_the_longest_allowed_period_is_accepted(api, pro, endpoint, days):
    assert api.get(endpoint, pro.token, from_=days_ago(days - 1).isoformat()).status_code == 200


def test_a_repeated_parameter_is_rejected(api, pro):
    response = api.client.get(
        "/analytics/usage-summary?from=2026-01-01&from=2026-01-02", headers={"Authorization": f"Bearer {pro.token}"}
    )
    _error(response, 400, "INVALID_PARAMETER")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer ", "bearer"],
    ids=["none", "unknown", "basic", "empty", "scheme-only"],
)
def test_missing_or_invalid_token_is_401(api, endpoint, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = api.client.get(f"/analytics/{endpoint}", headers=headers)
    _error(response, 401, "UNAUTHORIZED")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_free_tier_is_rejected_with_403(api, seed, endpoint):
    free = seed([("alpha", 1, "api_calls", 1)], tier="free")
    _error(api.get(endpoint, free.token), 403, "ANALYTICS_NOT_AVAILABLE")


def test_the_403_message_names_the_paid_plans_and_the_tenants_own(api, seed):
    free = seed([], tier="free")
    message = api.get("usage-summary", free.token).get_json()["error"]["message"]
    assert message == "Analytics require the Pro or Enterprise plan; this workspace is on the Free plan."


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_free_tier_flag_opens_analytics_to_free_tenants(api, api_app, seed, endpoint):
    free = seed([("alpha", 1, "api_calls", 1)], tier="free")
    api_app.config["ANALYTICS_FREE_TIER"] = True
    assert api.get(endpoint, free.token).status_code == 200


@pytest.mark.parametrize("tier", ["pro", "enterprise", "Enterprise"])
def test_paid_tiers_see_analytics(api, seed, tier):
    assert api.get("usage-summary", seed([], tier=tier).token).status_code == 200


def test_tier_is_checked_before_parameters(api, seed):
    free = seed([], tier="free")
    _error(api.get("token-trends", free.token, granularity="month"), 403, "ANALYTICS_NOT_AVAILABLE")


def test_authentication_is_checked_before_parameters(api):
    _error(api.get("token-trends", None, granularity="month"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("path", [*ENDPOINTS, "", "static/analytics.css"])
def test_disabled_analytics_answer_the_hosts_plain_404(api, api_app, pro, path):
    api_app.config["ANALYTICS_ENABLED"] = False
    response = api.client.get(f"/analytics/{path}", headers={"Authorization": f"Bearer {pro.token}"})
    assert response.status_code == 404
    assert not response.is_json
    assert response.get_data() == api_app.test_client().get("/no-such-page").get_data()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "BREW"])
def test_a_method_other_than_get_is_405_in_the_error_shape_with_allow(api, pro, endpoint, method):
    headers = {"Authorization": f"Bearer {pro.token}"}
    response = api.client.open(f"/analytics/{endpoint}", method=method, headers=headers)
    _error(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


def test_a_405_on_a_url_outside_the_api_stays_the_hosts(api, api_app):
    response = api.client.post("/analytics/")  # the tab's page
    assert response.status_code == 405
    assert not response.is_json


def test_with_analytics_disabled_any_method_gets_the_hosts_plain_404(api, api_app, pro):
    api_app.config["ANALYTICS_ENABLED"] = False
    response = api.client.post("/analytics/usage-summary", headers={"Authorization": f"Bearer {pro.token}"})
    assert response.status_code == 404 and not response.is_json


def test_errors_are_never_cached_as_answers(api, pro):
    _error(api.get("token-trends", pro.token, granularity="x"), 400, "INVALID_GRANULARITY")
    assert api.get("token-trends", pro.token).status_code == 200


def test_analytics_tenant_isolation_numbers(api, seed):
    a = seed([("alpha", 1, "api_calls", 1)])
    b = seed([("beta", 1, "api_calls", 1000), ("beta", 1, "token_issuances", 5)])
    summary = api.ok("usage-summary", a.token)["summary"]
    assert summary["totalApiCalls"] == 1 and summary["totalTokenIssuances"] == 0
    assert [x["agentName"] for x in api.ok("agent-activity", a.token)["agents"]] == ["alpha"]
    assert sum(p["totalIssuances"] for p in api.ok("token-trends", a.token)["dataPoints"]) == 0
    assert api.ok("usage-summary", b.token)["summary"]["totalApiCalls"] == 1000
