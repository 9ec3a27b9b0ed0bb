"""docs/openapi.yaml: a valid OpenAPI 3.1 document that matches what the API really answers."""

from __future__ import annotations

import uuid
from importlib.resources import files
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from agentidp_analytics_plugin import errors
from api_fixtures import days_ago

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
DOC = yaml.safe_load(DOC_PATH.read_text())
ERRORS = {"400", "401", "403", "429", "500", "503"}
#: What every endpoint takes besides its own parameters, and answers besides its errors.
COMMON = {"format", "If-None-Match"}
PATHS = {
    "usage-summary": ("UsageSummary", {"from", "to", "agentId"} | COMMON, ERRORS | {"304", "404"}),
    "agent-activity": ("AgentActivityResponse", {"from", "to", "agentId"} | COMMON, ERRORS | {"304", "404"}),
    "token-trends": ("TokenTrendsResponse", {"from", "to", "granularity", "agentId"} | COMMON, ERRORS | {"304", "404"}),
    "call-patterns": ("CallPatternsResponse", {"from", "to", "agentId"} | COMMON, ERRORS | {"304", "404"}),
    "insights": ("InsightsResponse", {"from", "to"} | COMMON, ERRORS | {"304"}),
}


def _validator(name: str):
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _parameters(operation: dict) -> set[str]:
    names = set()
    for param in operation["parameters"]:
        if "$ref" in param:
            param = DOC["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        names.add(param["name"])
    return names


def test_document_is_openapi_3_1():
    assert DOC["openapi"] == "3.1.0"
    jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/Error", "components": DOC["components"]})


def test_package_ships_the_same_document():
    shipped = files("agentidp_analytics_plugin").joinpath("openapi.yaml").read_text()
    assert shipped == DOC_PATH.read_text()


@pytest.mark.parametrize("endpoint", PATHS)
def test_each_endpoint_documents_its_parameters_responses_and_security(endpoint):
    _, params, statuses = PATHS[endpoint]
    operation = DOC["paths"][f"/analytics/{endpoint}"]["get"]
    assert _parameters(operation) == params
    assert statuses | {"200"} == set(operation["responses"])
    assert DOC["security"] == [{"tenantToken": []}]
    assert DOC["components"]["securitySchemes"]["tenantToken"] == {
        **DOC["components"]["securitySchemes"]["tenantToken"],
        "type": "http",
        "scheme": "bearer",
    }


def test_every_error_code_is_documented():
    enum = DOC["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert set(enum) == set(errors.CODES)
    text = DOC_PATH.read_text()
    for code in errors.CODES:
        assert f"`{code}`" in text or f"code: {code}" in text


def test_rate_limited_documents_retry_after():
    assert "Retry-After" in DOC["components"]["responses"]["RateLimited"]["headers"]


@pytest.mark.parametrize("endpoint", PATHS)
@pytest.mark.parametrize("params", [{}, {"granularity": "week"}], ids=["default", "week"])
def test_real_200_responses_match_the_schema(api, seed, endpoint, params):
    s = seed([("alpha", 1, "api_calls", 3), (None, 2, "token_issuances", 1), ("beta", 3, "token_failures", 2)])
    params = params if endpoint == "token-trends" else {}
    body = api.ok(endpoint, s.token, **params)
    _validator(PATHS[endpoint][0]).validate(body)
    narrowed = api.ok(endpoint, s.token, agentId=str(s.agents["beta"]), **params)
    _validator(PATHS[endpoint][0]).validate(narrowed)


@pytest.mark.parametrize(
    ("endpoint", "params", "token", "status"),
    [
        ("usage-summary", {"from_": days_ago(0).isoformat(), "to": days_ago(1).isoformat()}, "pro", 400),
        ("token-trends", {"granularity": "hour"}, "pro", 400),
        ("agent-activity", {"agentId": "x"}, "pro", 400),
        ("agent-activity", {"agentId": str(uuid.uuid4())}, "pro", 404),
        ("usage-summary", {"agentId": str(uuid.uuid4())}, "pro", 404),
        ("token-trends", {"agentId": "x"}, "pro", 400),
        ("usage-summary", {}, None, 401),
        ("token-trends", {}, "free", 403),
    ],
    ids=[
        "range", "granularity", "agent-id", "not-found", "summary-not-found", "trends-agent-id", "unauthorized", "free"
    ],
)
def test_real_error_responses_match_the_schema(api, seed, endpoint, params, token, status):
    tokens = {"pro": seed([]).token, "free": seed([], tier="free").token, None: None}
    response = api.get(endpoint, tokens[token], **params)
    assert response.status_code == status
    assert str(status) in DOC["paths"][f"/analytics/{endpoint}"]["get"]["responses"]
    _validator("Error").validate(response.get_json())


def test_a_real_call_patterns_response_with_counts_matches_the_schema(api, seed, api_app, api_host):
    from agentidp_analytics_plugin.call_flush import apply_batch
    from agentidp_analytics_plugin.state import get_state

    s = seed([])
    agent = api_host.agent(s.tenant, "caller")
    state = get_state(api_app)
    buckets = {
        (s.tenant, agent, days_ago(1), "GET", "/api/things/<int:id>", "2xx"): [9, 90.0],
        (s.tenant, None, days_ago(2), "OTHER", "<unmatched>", "4xx"): [1, 0.5],
        (s.tenant, agent, days_ago(2), "POST", "/api/things", "5xx"): [2, 3.0],
    }
    apply_batch(state.engine, state.tables, "openapi-test", buckets)
    body = api.ok("call-patterns", s.token)
    assert len(body["endpoints"]) == 3
    _validator("CallPatternsResponse").validate(body)
